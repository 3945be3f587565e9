(module
  (import "env" "memory" (memory 1))
  ;; out[i] = max(a[i] + b[i], 0) for n floats; n a multiple of 4 (16-byte steps)
  (func (export "addRelu") (param $a i32) (param $b i32) (param $o i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $o) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
      (loop $next
        (v128.store (local.get $o)
          (f32x4.pmax
            (f32x4.add (v128.load (local.get $a)) (v128.load (local.get $b)))
            (v128.const f32x4 0 0 0 0)))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (local.set $b (i32.add (local.get $b) (i32.const 16)))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br_if $next (i32.lt_u (local.get $o) (local.get $end))))))
)
