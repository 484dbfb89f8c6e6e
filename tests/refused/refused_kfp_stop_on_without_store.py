# backend: kfp
import mlopsdsl as ml


class Unusable(Exception):
    pass


@ml.step(retry=ml.Retry(attempts=3, stop_on=[Unusable]))  # refused: step 'careful' retries but stops on refused_kfp_stop_on_without_store.Unusable: KFP starts a failed step again whatever the error, so the step's later attempts must find a marker the failed one left; give the compile option store, an fsspec URL or a folder every pod mounts (ml.compile(..., store='s3://bucket/prefix'), or -O store=s3://bucket/prefix) to keep it there (docs/kfp.md, 'Retries')
def careful(n: int) -> int:
    return n


@ml.pipeline
def stop_on_without_store(n: int = 1) -> int:
    return careful(n=n)
