# backend: kfp
import mlopsdsl as ml

TABLE = bytes(range(256)) * 1000


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.step  # refused: step 'lookup' (refused_kfp_payload_too_large:lookup): its by-value payload is 250 KiB, too large for a container argument; keep large data out of module globals, or use code='import'
def lookup(n: int) -> int:
    return TABLE[n % len(TABLE)]


@ml.pipeline
def payload_too_large(n: int = 1) -> int:
    return lookup(n=double(n=n))
