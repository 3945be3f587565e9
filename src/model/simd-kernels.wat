;; SIMD loops run in place on the tfjs wasm heap (see wasm-simd.ts): the fused training
;; batch-norm (fused-bn.ts) and strided row copies (channel concat / split / slice, train/kernels.ts).
;; Build: node scripts/build-simd-kernels.js (wat2wasm from the `wabt` npm package) → simd-kernels-wasm.ts.
;;
;; Batch-norm data are channels-last float32 [rows, C]; all pointers are byte offsets in the imported memory.
;; Per-channel arrays (acc, mean, scale, shift, ...) hold ceil(C/4)*4 floats.
;; Every function processes rows [0, rows) with 4-wide chunks; a row's last chunk may run up to
;; 3 floats into the next row (extra lanes land in the padding of the per-channel arrays, and
;; elementwise outputs written there are overwritten by the next row), so callers pass all rows
;; but the last, which they do in scalar code.
(module
  (import "env" "memory" (memory 0))

  ;; acc[c] += y[r, c]
  (func (export "colsum") (param $y i32) (param $rows i32) (param $C i32) (param $acc i32)
    (local $end i32) (local $c i32) (local $p i32)
    (local.set $end (i32.add (local.get $y) (i32.mul (local.get $rows) (i32.shl (local.get $C) (i32.const 2)))))
    (block $done
      (loop $row
        (br_if $done (i32.ge_u (local.get $y) (local.get $end)))
        (local.set $c (i32.const 0))
        (local.set $p (local.get $acc))
        (loop $chunk
          (v128.store (local.get $p)
            (f32x4.add (v128.load (local.get $p))
                       (v128.load (i32.add (local.get $y) (i32.shl (local.get $c) (i32.const 2))))))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (local.set $c (i32.add (local.get $c) (i32.const 4)))
          (br_if $chunk (i32.lt_u (local.get $c) (local.get $C))))
        (local.set $y (i32.add (local.get $y) (i32.shl (local.get $C) (i32.const 2))))
        (br $row))))

  ;; acc[c] += (y[r, c] - mean[c])^2
  (func (export "colsqdev") (param $y i32) (param $rows i32) (param $C i32) (param $mean i32) (param $acc i32)
    (local $end i32) (local $c i32) (local $off i32) (local $d v128)
    (local.set $end (i32.add (local.get $y) (i32.mul (local.get $rows) (i32.shl (local.get $C) (i32.const 2)))))
    (block $done
      (loop $row
        (br_if $done (i32.ge_u (local.get $y) (local.get $end)))
        (local.set $c (i32.const 0))
        (loop $chunk
          (local.set $off (i32.shl (local.get $c) (i32.const 2)))
          (local.set $d (f32x4.sub (v128.load (i32.add (local.get $y) (local.get $off)))
                                   (v128.load (i32.add (local.get $mean) (local.get $off)))))
          (v128.store (i32.add (local.get $acc) (local.get $off))
            (f32x4.add (v128.load (i32.add (local.get $acc) (local.get $off)))
                       (f32x4.mul (local.get $d) (local.get $d))))
          (local.set $c (i32.add (local.get $c) (i32.const 4)))
          (br_if $chunk (i32.lt_u (local.get $c) (local.get $C))))
        (local.set $y (i32.add (local.get $y) (i32.shl (local.get $C) (i32.const 2))))
        (br $row))))

  ;; out[r, c] = y[r, c] * scale[c] + shift[c], then max(., 0) when relu != 0
  (func (export "apply") (param $y i32) (param $rows i32) (param $C i32) (param $scale i32) (param $shift i32) (param $out i32) (param $relu i32)
    (local $end i32) (local $c i32) (local $off i32) (local $v v128) (local $zero v128)
    (local.set $zero (v128.const f32x4 0 0 0 0))
    (local.set $end (i32.add (local.get $y) (i32.mul (local.get $rows) (i32.shl (local.get $C) (i32.const 2)))))
    (block $done
      (loop $row
        (br_if $done (i32.ge_u (local.get $y) (local.get $end)))
        (local.set $c (i32.const 0))
        (loop $chunk
          (local.set $off (i32.shl (local.get $c) (i32.const 2)))
          (local.set $v (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $y) (local.get $off)))
                                              (v128.load (i32.add (local.get $scale) (local.get $off))))
                                   (v128.load (i32.add (local.get $shift) (local.get $off)))))
          (if (local.get $relu)
            (then (local.set $v (v128.and (local.get $v) (f32x4.gt (local.get $v) (local.get $zero))))))
          (v128.store (i32.add (local.get $out) (local.get $off)) (local.get $v))
          (local.set $c (i32.add (local.get $c) (i32.const 4)))
          (br_if $chunk (i32.lt_u (local.get $c) (local.get $C))))
        (local.set $y (i32.add (local.get $y) (i32.shl (local.get $C) (i32.const 2))))
        (local.set $out (i32.add (local.get $out) (i32.shl (local.get $C) (i32.const 2))))
        (br $row))))

  ;; g = relu ? dout * [out > 0] : dout;  db[c] += g;  dg[c] += g * (y - mean[c])
  (func (export "gradsums") (param $dout i32) (param $y i32) (param $out i32) (param $rows i32) (param $C i32) (param $mean i32) (param $db i32) (param $dg i32) (param $relu i32)
    (local $end i32) (local $c i32) (local $off i32) (local $g v128) (local $zero v128)
    (local.set $zero (v128.const f32x4 0 0 0 0))
    (local.set $end (i32.add (local.get $y) (i32.mul (local.get $rows) (i32.shl (local.get $C) (i32.const 2)))))
    (block $done
      (loop $row
        (br_if $done (i32.ge_u (local.get $y) (local.get $end)))
        (local.set $c (i32.const 0))
        (loop $chunk
          (local.set $off (i32.shl (local.get $c) (i32.const 2)))
          (local.set $g (v128.load (i32.add (local.get $dout) (local.get $off))))
          (if (local.get $relu)
            (then (local.set $g (v128.and (local.get $g)
                                          (f32x4.gt (v128.load (i32.add (local.get $out) (local.get $off))) (local.get $zero))))))
          (v128.store (i32.add (local.get $db) (local.get $off))
            (f32x4.add (v128.load (i32.add (local.get $db) (local.get $off))) (local.get $g)))
          (v128.store (i32.add (local.get $dg) (local.get $off))
            (f32x4.add (v128.load (i32.add (local.get $dg) (local.get $off)))
                       (f32x4.mul (local.get $g)
                                  (f32x4.sub (v128.load (i32.add (local.get $y) (local.get $off)))
                                             (v128.load (i32.add (local.get $mean) (local.get $off)))))))
          (local.set $c (i32.add (local.get $c) (i32.const 4)))
          (br_if $chunk (i32.lt_u (local.get $c) (local.get $C))))
        (local.set $y (i32.add (local.get $y) (i32.shl (local.get $C) (i32.const 2))))
        (local.set $dout (i32.add (local.get $dout) (i32.shl (local.get $C) (i32.const 2))))
        (local.set $out (i32.add (local.get $out) (i32.shl (local.get $C) (i32.const 2))))
        (br $row))))

  ;; dy = a[c] * g - k1[c] - (y - mean[c]) * k2[c]
  (func (export "gradapply") (param $dout i32) (param $y i32) (param $out i32) (param $rows i32) (param $C i32) (param $mean i32) (param $a i32) (param $k1 i32) (param $k2 i32) (param $dy i32) (param $relu i32)
    (local $end i32) (local $c i32) (local $off i32) (local $g v128) (local $zero v128)
    (local.set $zero (v128.const f32x4 0 0 0 0))
    (local.set $end (i32.add (local.get $y) (i32.mul (local.get $rows) (i32.shl (local.get $C) (i32.const 2)))))
    (block $done
      (loop $row
        (br_if $done (i32.ge_u (local.get $y) (local.get $end)))
        (local.set $c (i32.const 0))
        (loop $chunk
          (local.set $off (i32.shl (local.get $c) (i32.const 2)))
          (local.set $g (v128.load (i32.add (local.get $dout) (local.get $off))))
          (if (local.get $relu)
            (then (local.set $g (v128.and (local.get $g)
                                          (f32x4.gt (v128.load (i32.add (local.get $out) (local.get $off))) (local.get $zero))))))
          (v128.store (i32.add (local.get $dy) (local.get $off))
            (f32x4.sub
              (f32x4.sub (f32x4.mul (v128.load (i32.add (local.get $a) (local.get $off))) (local.get $g))
                         (v128.load (i32.add (local.get $k1) (local.get $off))))
              (f32x4.mul (f32x4.sub (v128.load (i32.add (local.get $y) (local.get $off)))
                                    (v128.load (i32.add (local.get $mean) (local.get $off))))
                         (v128.load (i32.add (local.get $k2) (local.get $off))))))
          (local.set $c (i32.add (local.get $c) (i32.const 4)))
          (br_if $chunk (i32.lt_u (local.get $c) (local.get $C))))
        (local.set $y (i32.add (local.get $y) (i32.shl (local.get $C) (i32.const 2))))
        (local.set $dout (i32.add (local.get $dout) (i32.shl (local.get $C) (i32.const 2))))
        (local.set $out (i32.add (local.get $out) (i32.shl (local.get $C) (i32.const 2))))
        (local.set $dy (i32.add (local.get $dy) (i32.shl (local.get $C) (i32.const 2))))
        (br $row))))
;; dst[r*dstStride + i] = src[r*srcStride + i] for i < n floats, r < rows (strides in bytes):
  ;; 4-wide chunks, then a scalar tail, so nothing outside the n floats of a row is touched.
  (func $copyrows (export "copyrows") (param $src i32) (param $srcStride i32) (param $dst i32) (param $dstStride i32) (param $rows i32) (param $n i32)
    (local $r i32) (local $i i32) (local $n4 i32)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $row
        (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $i (i32.const 0))
        (block $vdone
          (loop $vec
            (br_if $vdone (i32.ge_u (local.get $i) (local.get $n4)))
            (v128.store (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2)))
                        (v128.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $vec)))
        (block $sdone
          (loop $scalar
            (br_if $sdone (i32.ge_u (local.get $i) (local.get $n)))
            (f32.store (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2)))
                       (f32.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $scalar)))
        (local.set $src (i32.add (local.get $src) (local.get $srcStride)))
        (local.set $dst (i32.add (local.get $dst) (local.get $dstStride)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $row))))
;; copyrows over `planes` planes: plane p copies from src + p·srcPlane to dst + p·dstPlane.
  (func (export "copyplanes") (param $src i32) (param $srcPlane i32) (param $srcStride i32)
                              (param $dst i32) (param $dstPlane i32) (param $dstStride i32)
                              (param $planes i32) (param $rows i32) (param $n i32)
    (local $p i32)
    (block $done
      (loop $plane
        (br_if $done (i32.ge_u (local.get $p) (local.get $planes)))
        (call $copyrows (local.get $src) (local.get $srcStride) (local.get $dst) (local.get $dstStride) (local.get $rows) (local.get $n))
        (local.set $src (i32.add (local.get $src) (local.get $srcPlane)))
        (local.set $dst (i32.add (local.get $dst) (local.get $dstPlane)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $plane))))

  ;; Filter gradient of a convolution, accumulated for the output rows of ONE image:
  ;;   acc[t, i, o] += Σ_{y<rows, x<W} xp[y·rowStepX + t-offset + x·colStepX + i] · dy[y, x, o]
  ;; xp: padded input (channels padded to ci4, a multiple of 4); dy: [rows, W, co8] (co8 a
  ;; multiple of 8); acc: [kh, kw, ci4, co8]. Strides in bytes: rowStepX between output rows
  ;; (stride·padded row), colStepX between output columns (stride·ci4·4), xRow between the taps'
  ;; rows (padded row), ci4·4 between the taps' columns. Register tile: 4 input channels × 8
  ;; output channels (8 f32x4 accumulators), one pass over the row per tile and tap, so dy and
  ;; the input rows stay in L1 (XNNPACK's GEMM re-streams the whole K for every output tile).
;; Filter gradient of a convolution, accumulated over the output pixels of ONE image:
  ;;   acc[t, i, o] += Σ_{y<rows, x<W} xp[y·rowStepX + tap offset + x·colStepX + i] · dy[y, x, o]
  ;; xp: padded input (channels padded to ci4, a multiple of 4); dy: [rows, W, co4] (co4 a
  ;; multiple of 4); acc: [kh, kw, ci4, co4]. Strides in bytes: rowStepX between output rows
  ;; (stride·padded row), colStepX between output columns (stride·ci4·4), xRow between the taps'
  ;; rows (padded row), ci4·4 between the taps' columns. Register tile: 4 input channels × 8
  ;; output channels (8 f32x4 accumulators; a last 4-wide tile when co4 is not a multiple of 8)
  ;; over all pixels of the image per tile and tap, two columns per iteration: the image's dy and
  ;; input stay in cache (XNNPACK's GEMM form re-streams the whole reduction for every 4 rows).
  (func (export "dwacc") (param $xp i32) (param $rowStepX i32) (param $xRow i32) (param $colStepX i32)
                         (param $dy i32) (param $rows i32) (param $W i32)
                         (param $kh i32) (param $kw i32) (param $ci4 i32) (param $co4 i32) (param $acc i32)
    (local $y i32) (local $th i32) (local $tw i32) (local $a i32) (local $b i32) (local $x i32)
    (local $xb i32) (local $pa i32) (local $px i32) (local $px2 i32) (local $pd i32) (local $accRow i32) (local $dyRow i32) (local $W2 i32) (local $co8 i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local $d0 v128) (local $d1 v128) (local $e0 v128) (local $e1 v128) (local $s v128)
    (local.set $accRow (i32.shl (local.get $co4) (i32.const 2)))
    (local.set $dyRow (i32.shl (i32.mul (local.get $W) (local.get $co4)) (i32.const 2)))
    (local.set $W2 (i32.and (local.get $W) (i32.const -2)))
    (local.set $co8 (i32.and (local.get $co4) (i32.const -8)))
    (block $thd (loop $thl
      (br_if $thd (i32.ge_u (local.get $th) (local.get $kh)))
      (local.set $tw (i32.const 0))
      (block $twd (loop $twl
        (br_if $twd (i32.ge_u (local.get $tw) (local.get $kw)))
        ;; input pointer of this tap at (y, x) = (0, 0)
        (local.set $xb (i32.add (local.get $xp)
                                (i32.add (i32.mul (local.get $th) (local.get $xRow))
                                         (i32.shl (i32.mul (local.get $tw) (local.get $ci4)) (i32.const 2)))))
        (local.set $a (i32.const 0))
        (block $ad (loop $al
          (br_if $ad (i32.ge_u (local.get $a) (local.get $ci4)))
          (local.set $b (i32.const 0))
          (block $bd (loop $bl
            (br_if $bd (i32.ge_u (local.get $b) (local.get $co8)))
            ;; pa = acc + (((th·kw + tw)·ci4 + a)·co4 + b)·4
            (local.set $pa (i32.add (local.get $acc)
              (i32.shl (i32.add (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $th) (local.get $kw)) (local.get $tw)) (local.get $ci4)) (local.get $a)) (local.get $co4)) (local.get $b)) (i32.const 2))))
            (local.set $a0 (v128.load (local.get $pa)))
            (local.set $a1 (v128.load offset=16 (local.get $pa)))
            (local.set $a2 (v128.load (i32.add (local.get $pa) (local.get $accRow))))
            (local.set $a3 (v128.load offset=16 (i32.add (local.get $pa) (local.get $accRow))))
            (local.set $a4 (v128.load (i32.add (local.get $pa) (i32.shl (local.get $accRow) (i32.const 1)))))
            (local.set $a5 (v128.load offset=16 (i32.add (local.get $pa) (i32.shl (local.get $accRow) (i32.const 1)))))
            (local.set $a6 (v128.load (i32.add (local.get $pa) (i32.mul (local.get $accRow) (i32.const 3)))))
            (local.set $a7 (v128.load offset=16 (i32.add (local.get $pa) (i32.mul (local.get $accRow) (i32.const 3)))))
            (local.set $y (i32.const 0))
            (block $yd (loop $yl
              (br_if $yd (i32.ge_u (local.get $y) (local.get $rows)))
              (local.set $px (i32.add (i32.add (local.get $xb) (i32.mul (local.get $y) (local.get $rowStepX))) (i32.shl (local.get $a) (i32.const 2))))
              (local.set $pd (i32.add (i32.add (local.get $dy) (i32.mul (local.get $y) (local.get $dyRow))) (i32.shl (local.get $b) (i32.const 2))))
              (local.set $x (i32.const 0))
              (block $xd (loop $xl
                (br_if $xd (i32.ge_u (local.get $x) (local.get $W2)))
                (local.set $px2 (i32.add (local.get $px) (local.get $colStepX)))
                (local.set $d0 (v128.load (local.get $pd)))
                (local.set $d1 (v128.load offset=16 (local.get $pd)))
                (local.set $e0 (v128.load (i32.add (local.get $pd) (local.get $accRow))))
                (local.set $e1 (v128.load offset=16 (i32.add (local.get $pd) (local.get $accRow))))
                (local.set $s (v128.load32_splat offset=0 (local.get $px)))
                (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $s) (local.get $d0))))
                (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $s) (local.get $d1))))
                (local.set $s (v128.load32_splat offset=4 (local.get $px)))
                (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $s) (local.get $d0))))
                (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $s) (local.get $d1))))
                (local.set $s (v128.load32_splat offset=8 (local.get $px)))
                (local.set $a4 (f32x4.add (local.get $a4) (f32x4.mul (local.get $s) (local.get $d0))))
                (local.set $a5 (f32x4.add (local.get $a5) (f32x4.mul (local.get $s) (local.get $d1))))
                (local.set $s (v128.load32_splat offset=12 (local.get $px)))
                (local.set $a6 (f32x4.add (local.get $a6) (f32x4.mul (local.get $s) (local.get $d0))))
                (local.set $a7 (f32x4.add (local.get $a7) (f32x4.mul (local.get $s) (local.get $d1))))
                (local.set $s (v128.load32_splat offset=0 (local.get $px2)))
                (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $s) (local.get $e0))))
                (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $s) (local.get $e1))))
                (local.set $s (v128.load32_splat offset=4 (local.get $px2)))
                (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $s) (local.get $e0))))
                (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $s) (local.get $e1))))
                (local.set $s (v128.load32_splat offset=8 (local.get $px2)))
                (local.set $a4 (f32x4.add (local.get $a4) (f32x4.mul (local.get $s) (local.get $e0))))
                (local.set $a5 (f32x4.add (local.get $a5) (f32x4.mul (local.get $s) (local.get $e1))))
                (local.set $s (v128.load32_splat offset=12 (local.get $px2)))
                (local.set $a6 (f32x4.add (local.get $a6) (f32x4.mul (local.get $s) (local.get $e0))))
                (local.set $a7 (f32x4.add (local.get $a7) (f32x4.mul (local.get $s) (local.get $e1))))
                (local.set $px (i32.add (local.get $px2) (local.get $colStepX)))
                (local.set $pd (i32.add (local.get $pd) (i32.shl (local.get $accRow) (i32.const 1))))
                (local.set $x (i32.add (local.get $x) (i32.const 2)))
                (br $xl)))
              ;; odd W: the last column
              (if (i32.lt_u (local.get $x) (local.get $W))
                (then
                (local.set $d0 (v128.load (local.get $pd)))
                (local.set $d1 (v128.load offset=16 (local.get $pd)))
                (local.set $s (v128.load32_splat offset=0 (local.get $px)))
                (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $s) (local.get $d0))))
                (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $s) (local.get $d1))))
                (local.set $s (v128.load32_splat offset=4 (local.get $px)))
                (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $s) (local.get $d0))))
                (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $s) (local.get $d1))))
                (local.set $s (v128.load32_splat offset=8 (local.get $px)))
                (local.set $a4 (f32x4.add (local.get $a4) (f32x4.mul (local.get $s) (local.get $d0))))
                (local.set $a5 (f32x4.add (local.get $a5) (f32x4.mul (local.get $s) (local.get $d1))))
                (local.set $s (v128.load32_splat offset=12 (local.get $px)))
                (local.set $a6 (f32x4.add (local.get $a6) (f32x4.mul (local.get $s) (local.get $d0))))
                (local.set $a7 (f32x4.add (local.get $a7) (f32x4.mul (local.get $s) (local.get $d1))))
))
              (local.set $y (i32.add (local.get $y) (i32.const 1)))
              (br $yl)))
            (v128.store (local.get $pa) (local.get $a0))
            (v128.store offset=16 (local.get $pa) (local.get $a1))
            (v128.store (i32.add (local.get $pa) (local.get $accRow)) (local.get $a2))
            (v128.store offset=16 (i32.add (local.get $pa) (local.get $accRow)) (local.get $a3))
            (v128.store (i32.add (local.get $pa) (i32.shl (local.get $accRow) (i32.const 1))) (local.get $a4))
            (v128.store offset=16 (i32.add (local.get $pa) (i32.shl (local.get $accRow) (i32.const 1))) (local.get $a5))
            (v128.store (i32.add (local.get $pa) (i32.mul (local.get $accRow) (i32.const 3))) (local.get $a6))
            (v128.store offset=16 (i32.add (local.get $pa) (i32.mul (local.get $accRow) (i32.const 3))) (local.get $a7))
            (local.set $b (i32.add (local.get $b) (i32.const 8)))
            (br $bl)))
          ;; the last 4 output channels when co4 is not a multiple of 8
          (if (i32.lt_u (local.get $b) (local.get $co4))
            (then
            ;; pa = acc + (((th·kw + tw)·ci4 + a)·co4 + b)·4
            (local.set $pa (i32.add (local.get $acc)
              (i32.shl (i32.add (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $th) (local.get $kw)) (local.get $tw)) (local.get $ci4)) (local.get $a)) (local.get $co4)) (local.get $b)) (i32.const 2))))
            (local.set $a0 (v128.load (local.get $pa)))
            (local.set $a2 (v128.load (i32.add (local.get $pa) (local.get $accRow))))
            (local.set $a4 (v128.load (i32.add (local.get $pa) (i32.shl (local.get $accRow) (i32.const 1)))))
            (local.set $a6 (v128.load (i32.add (local.get $pa) (i32.mul (local.get $accRow) (i32.const 3)))))
            (local.set $y (i32.const 0))
            (block $yd (loop $yl
              (br_if $yd (i32.ge_u (local.get $y) (local.get $rows)))
              (local.set $px (i32.add (i32.add (local.get $xb) (i32.mul (local.get $y) (local.get $rowStepX))) (i32.shl (local.get $a) (i32.const 2))))
              (local.set $pd (i32.add (i32.add (local.get $dy) (i32.mul (local.get $y) (local.get $dyRow))) (i32.shl (local.get $b) (i32.const 2))))
              (local.set $x (i32.const 0))
              (block $xd (loop $xl
                (br_if $xd (i32.ge_u (local.get $x) (local.get $W2)))
                (local.set $px2 (i32.add (local.get $px) (local.get $colStepX)))
                (local.set $d0 (v128.load (local.get $pd)))
                (local.set $e0 (v128.load (i32.add (local.get $pd) (local.get $accRow))))
                (local.set $s (v128.load32_splat offset=0 (local.get $px)))
                (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $s) (local.get $d0))))
                (local.set $s (v128.load32_splat offset=4 (local.get $px)))
                (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $s) (local.get $d0))))
                (local.set $s (v128.load32_splat offset=8 (local.get $px)))
                (local.set $a4 (f32x4.add (local.get $a4) (f32x4.mul (local.get $s) (local.get $d0))))
                (local.set $s (v128.load32_splat offset=12 (local.get $px)))
                (local.set $a6 (f32x4.add (local.get $a6) (f32x4.mul (local.get $s) (local.get $d0))))
                (local.set $s (v128.load32_splat offset=0 (local.get $px2)))
                (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $s) (local.get $e0))))
                (local.set $s (v128.load32_splat offset=4 (local.get $px2)))
                (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $s) (local.get $e0))))
                (local.set $s (v128.load32_splat offset=8 (local.get $px2)))
                (local.set $a4 (f32x4.add (local.get $a4) (f32x4.mul (local.get $s) (local.get $e0))))
                (local.set $s (v128.load32_splat offset=12 (local.get $px2)))
                (local.set $a6 (f32x4.add (local.get $a6) (f32x4.mul (local.get $s) (local.get $e0))))
                (local.set $px (i32.add (local.get $px2) (local.get $colStepX)))
                (local.set $pd (i32.add (local.get $pd) (i32.shl (local.get $accRow) (i32.const 1))))
                (local.set $x (i32.add (local.get $x) (i32.const 2)))
                (br $xl)))
              ;; odd W: the last column
              (if (i32.lt_u (local.get $x) (local.get $W))
                (then
                (local.set $d0 (v128.load (local.get $pd)))
                (local.set $s (v128.load32_splat offset=0 (local.get $px)))
                (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $s) (local.get $d0))))
                (local.set $s (v128.load32_splat offset=4 (local.get $px)))
                (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $s) (local.get $d0))))
                (local.set $s (v128.load32_splat offset=8 (local.get $px)))
                (local.set $a4 (f32x4.add (local.get $a4) (f32x4.mul (local.get $s) (local.get $d0))))
                (local.set $s (v128.load32_splat offset=12 (local.get $px)))
                (local.set $a6 (f32x4.add (local.get $a6) (f32x4.mul (local.get $s) (local.get $d0))))
))
              (local.set $y (i32.add (local.get $y) (i32.const 1)))
              (br $yl)))
            (v128.store (local.get $pa) (local.get $a0))
            (v128.store (i32.add (local.get $pa) (local.get $accRow)) (local.get $a2))
            (v128.store (i32.add (local.get $pa) (i32.shl (local.get $accRow) (i32.const 1))) (local.get $a4))
            (v128.store (i32.add (local.get $pa) (i32.mul (local.get $accRow) (i32.const 3))) (local.get $a6))
))
          (local.set $a (i32.add (local.get $a) (i32.const 4)))
          (br $al)))
        (local.set $tw (i32.add (local.get $tw) (i32.const 1)))
        (br $twl)))
      (local.set $th (i32.add (local.get $th) (i32.const 1)))
      (br $thl)))
  )
)
