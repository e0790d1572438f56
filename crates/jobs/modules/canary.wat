;; Cairn canary job: mixes its input into four 64-bit lanes, ROUNDS times over.
;; `cairn_jobs::canary_output` computes exactly the same function natively;
;; the two must agree bit for bit.
;;
;; state  = [0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1]
;; for r in 0..64:
;;   for i in 0..len/8:                       (trailing len % 8 bytes are ignored)
;;     w = input[8i..8i+8] as little-endian u64
;;     x = state[i % 4] ^ w ^ r
;;     state[i % 4] = rotl(x, 23) * 0x9e3779b97f4a7c15 + state[(i + 1) % 4]   (wrapping)
;; output = the four lanes, little-endian, 32 bytes
;;
;; Memory: one page. State at [64, 96); input at [1024, 1024 + len); inputs
;; that do not fit in the page make `alloc` trap.
(module
  (memory (export "memory") 1 1)

  (func (export "alloc") (param $len i32) (result i32)
    (if (i32.gt_u (local.get $len) (i32.const 64512)) ;; 65536 - 1024
      (then (unreachable)))
    (i32.const 1024))

  (func (export "run") (param $ptr i32) (param $len i32) (result i64)
    (local $r i32)
    (local $i i32)
    (local $words i32)
    (local $lane i32)
    (local $x i64)
    (i64.store (i32.const 64) (i64.const 0x6a09e667f3bcc908))
    (i64.store (i32.const 72) (i64.const 0xbb67ae8584caa73b))
    (i64.store (i32.const 80) (i64.const 0x3c6ef372fe94f82b))
    (i64.store (i32.const 88) (i64.const 0xa54ff53a5f1d36f1))
    (local.set $words (i32.shr_u (local.get $len) (i32.const 3)))
    (block $rounds_done
      (loop $round
        (br_if $rounds_done (i32.ge_u (local.get $r) (i32.const 64)))
        (local.set $i (i32.const 0))
        (block $words_done
          (loop $word
            (br_if $words_done (i32.ge_u (local.get $i) (local.get $words)))
            ;; address of state[i % 4]
            (local.set $lane
              (i32.add (i32.const 64)
                (i32.shl (i32.and (local.get $i) (i32.const 3)) (i32.const 3))))
            (local.set $x
              (i64.xor
                (i64.xor
                  (i64.load (local.get $lane))
                  (i64.load (i32.add (local.get $ptr) (i32.shl (local.get $i) (i32.const 3)))))
                (i64.extend_i32_u (local.get $r))))
            (i64.store (local.get $lane)
              (i64.add
                (i64.mul (i64.rotl (local.get $x) (i64.const 23)) (i64.const 0x9e3779b97f4a7c15))
                ;; state[(i + 1) % 4]
                (i64.load
                  (i32.add (i32.const 64)
                    (i32.shl
                      (i32.and (i32.add (local.get $i) (i32.const 1)) (i32.const 3))
                      (i32.const 3))))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $word)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $round)))
    ;; (64 << 32) | 32
    (i64.or (i64.shl (i64.const 64) (i64.const 32)) (i64.const 32))))
