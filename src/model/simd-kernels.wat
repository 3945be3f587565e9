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
  (func (export "copyrows") (param $src i32) (param $srcStride i32) (param $dst i32) (param $dstStride i32) (param $rows i32) (param $n i32)
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
)
