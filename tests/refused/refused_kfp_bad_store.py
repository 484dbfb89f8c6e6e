# backend: kfp
# args: -O store=relative/folder
import mlopsdsl as ml


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.pipeline  # refused: store='relative/folder': give an fsspec URL ('s3://bucket/prefix') or an absolute folder
def bad_store(n: int = 1) -> int:
    return double(n=n)
