;; Depthwise 3x3 convolution, stride 1, "same" (zero) padding, NHWC, one image, float32, for
;; the face detector on tfjs' wasm backend (src/face/wasm-depthwise.ts). C (channels) is a
;; multiple of 4: each step works on 4 channels (one v128). Weights are packed by the caller
;; as [C/4][9][4] floats, taps in column order (kx outer, ky inner): the order in which XNNPACK,
;; behind tfjs' own kernel, sums them, so the outputs are bit-identical to it (x86_64, arm64, armv7).
(module
  (import "env" "memory" (memory 1))

  ;; One output pixel at the image border: taps outside the image are skipped.
  (func $edge (param $pin i32) (param $pw i32) (param $pout i32) (param $H i32) (param $W i32)
              (param $pix i32) (param $y i32) (param $x i32)
    (local $cv i32) (local $ky i32) (local $kx i32) (local $iy i32) (local $ix i32)
    (local $acc v128) (local $o i32) (local $wv i32)
    (local.set $o (i32.add (local.get $pout) (i32.mul (i32.add (i32.mul (local.get $y) (local.get $W)) (local.get $x)) (local.get $pix))))
    (local.set $cv (i32.const 0))
    (local.set $wv (local.get $pw))
    (loop $cvl
      (local.set $acc (v128.const f32x4 0 0 0 0))
      (local.set $kx (i32.const 0))
      (loop $kxl
        (local.set $ix (i32.sub (i32.add (local.get $x) (local.get $kx)) (i32.const 1)))
        (if (i32.and (i32.ge_s (local.get $ix) (i32.const 0)) (i32.lt_s (local.get $ix) (local.get $W)))
          (then
            (local.set $ky (i32.const 0))
            (loop $kyl
              (local.set $iy (i32.sub (i32.add (local.get $y) (local.get $ky)) (i32.const 1)))
              (if (i32.and (i32.ge_s (local.get $iy) (i32.const 0)) (i32.lt_s (local.get $iy) (local.get $H)))
                (then
                  (local.set $acc (f32x4.add (local.get $acc)
                    (f32x4.mul
                      (v128.load (i32.add (i32.add (local.get $pin) (local.get $cv))
                        (i32.mul (i32.add (i32.mul (local.get $iy) (local.get $W)) (local.get $ix)) (local.get $pix))))
                      (v128.load (i32.add (local.get $wv) (i32.shl (i32.add (i32.mul (local.get $kx) (i32.const 3)) (local.get $ky)) (i32.const 4)))))))))
              (local.set $ky (i32.add (local.get $ky) (i32.const 1)))
              (br_if $kyl (i32.lt_s (local.get $ky) (i32.const 3))))))
        (local.set $kx (i32.add (local.get $kx) (i32.const 1)))
        (br_if $kxl (i32.lt_s (local.get $kx) (i32.const 3))))
      (v128.store (i32.add (local.get $o) (local.get $cv)) (local.get $acc))
      (local.set $wv (i32.add (local.get $wv) (i32.const 144)))
      (local.set $cv (i32.add (local.get $cv) (i32.const 16)))
      (br_if $cvl (i32.lt_u (local.get $cv) (local.get $pix)))))

  ;; out = depthwise3x3(in, packed weights): byte offsets into memory; H, W, C >= 1.
  (func (export "dw3x3") (param $pin i32) (param $pw i32) (param $pout i32) (param $H i32) (param $W i32) (param $C i32)
    (local $pix i32) (local $pix2 i32) (local $row i32) (local $y i32) (local $x i32)
    (local $r0 i32) (local $r1 i32) (local $r2 i32) (local $o i32) (local $wv i32) (local $end i32) (local $acc v128)
    (local.set $pix (i32.shl (local.get $C) (i32.const 2)))
    (local.set $pix2 (i32.shl (local.get $pix) (i32.const 1)))
    (local.set $row (i32.mul (local.get $W) (local.get $pix)))
    (local.set $y (i32.const 0))
    (loop $yl
      (if (i32.or (i32.eqz (local.get $y)) (i32.eq (local.get $y) (i32.sub (local.get $H) (i32.const 1))))
        (then
          ;; first and last rows: every pixel is at the border
          (local.set $x (i32.const 0))
          (loop $xe
            (call $edge (local.get $pin) (local.get $pw) (local.get $pout) (local.get $H) (local.get $W) (local.get $pix) (local.get $y) (local.get $x))
            (local.set $x (i32.add (local.get $x) (i32.const 1)))
            (br_if $xe (i32.lt_s (local.get $x) (local.get $W)))))
        (else
          (call $edge (local.get $pin) (local.get $pw) (local.get $pout) (local.get $H) (local.get $W) (local.get $pix) (local.get $y) (i32.const 0))
          (local.set $x (i32.const 1))
          (if (i32.gt_s (local.get $W) (i32.const 2))
            (then
              ;; inner pixels: all nine taps inside, no checks
              (loop $xl
                ;; r0, r1, r2: the input at (y-1, x-1), (y, x-1), (y+1, x-1)
                (local.set $r0 (i32.add (local.get $pin) (i32.mul (i32.add (i32.mul (i32.sub (local.get $y) (i32.const 1)) (local.get $W)) (i32.sub (local.get $x) (i32.const 1))) (local.get $pix))))
                (local.set $r1 (i32.add (local.get $r0) (local.get $row)))
                (local.set $r2 (i32.add (local.get $r1) (local.get $row)))
                (local.set $o (i32.add (local.get $pout) (i32.mul (i32.add (i32.mul (local.get $y) (local.get $W)) (local.get $x)) (local.get $pix))))
                (local.set $end (i32.add (local.get $o) (local.get $pix)))
                (local.set $wv (local.get $pw))
                (loop $cl
                  (local.set $acc (v128.const f32x4 0 0 0 0))
                  (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load (local.get $r0)) (v128.load offset=0 (local.get $wv)))))
                  (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load (local.get $r1)) (v128.load offset=16 (local.get $wv)))))
                  (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load (local.get $r2)) (v128.load offset=32 (local.get $wv)))))
                  (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load (i32.add (local.get $r0) (local.get $pix))) (v128.load offset=48 (local.get $wv)))))
                  (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load (i32.add (local.get $r1) (local.get $pix))) (v128.load offset=64 (local.get $wv)))))
                  (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load (i32.add (local.get $r2) (local.get $pix))) (v128.load offset=80 (local.get $wv)))))
                  (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load (i32.add (local.get $r0) (local.get $pix2))) (v128.load offset=96 (local.get $wv)))))
                  (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load (i32.add (local.get $r1) (local.get $pix2))) (v128.load offset=112 (local.get $wv)))))
                  (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load (i32.add (local.get $r2) (local.get $pix2))) (v128.load offset=128 (local.get $wv)))))
                  (v128.store (local.get $o) (local.get $acc))
                  (local.set $r0 (i32.add (local.get $r0) (i32.const 16)))
                  (local.set $r1 (i32.add (local.get $r1) (i32.const 16)))
                  (local.set $r2 (i32.add (local.get $r2) (i32.const 16)))
                  (local.set $wv (i32.add (local.get $wv) (i32.const 144)))
                  (local.set $o (i32.add (local.get $o) (i32.const 16)))
                  (br_if $cl (i32.lt_u (local.get $o) (local.get $end))))
                (local.set $x (i32.add (local.get $x) (i32.const 1)))
                (br_if $xl (i32.lt_s (local.get $x) (i32.sub (local.get $W) (i32.const 1)))))))
          (if (i32.gt_s (local.get $W) (i32.const 1))
            (then
              (call $edge (local.get $pin) (local.get $pw) (local.get $pout) (local.get $H) (local.get $W) (local.get $pix) (local.get $y) (i32.sub (local.get $W) (i32.const 1)))))))
      (local.set $y (i32.add (local.get $y) (i32.const 1)))
      (br_if $yl (i32.lt_s (local.get $y) (local.get $H)))))
)
