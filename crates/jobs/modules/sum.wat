;; Example Cairn job: sums the input, read as little-endian u32 values.
;;
;; Input:  N * 4 bytes, each group of four a little-endian u32.
;; Output: 8 bytes, the sum as a little-endian u64 (it cannot overflow:
;;         the input cap keeps N below 2^18).
;; Aborts: `cairn.abort(1)` if the input length is not a multiple of 4.
(module
  (import "cairn" "abort" (func $abort (param i32)))
  (memory (export "memory") 1)

  ;; The output lives at [16, 24); the input at [1024, 1024 + len).
  (func (export "alloc") (param $len i32) (result i32)
    (local $need_pages i32)
    ;; pages needed for 1024 + len bytes, rounded up (len <= 1 MiB: no overflow)
    (local.set $need_pages
      (i32.shr_u
        (i32.add (i32.add (local.get $len) (i32.const 1024)) (i32.const 65535))
        (i32.const 16)))
    (if (i32.gt_u (local.get $need_pages) (memory.size))
      (then
        (drop (memory.grow (i32.sub (local.get $need_pages) (memory.size))))))
    (i32.const 1024))

  (func (export "run") (param $ptr i32) (param $len i32) (result i64)
    (local $i i32)
    (local $sum i64)
    (if (i32.and (local.get $len) (i32.const 3))
      (then (call $abort (i32.const 1)) (unreachable)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $sum
          (i64.add
            (local.get $sum)
            (i64.load32_u (i32.add (local.get $ptr) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $next)))
    (i64.store (i32.const 16) (local.get $sum))
    ;; (out_ptr << 32) | out_len
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 8))))
