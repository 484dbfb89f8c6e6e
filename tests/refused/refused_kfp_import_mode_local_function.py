# backend: kfp
# args: -O code=import
import mlopsdsl as ml


def make_step() -> ml.Step:
    @ml.step  # refused: step 'scale' (refused_kfp_import_mode_local_function:make_step.<locals>.scale) cannot be imported by name in a container; use code='value'
    def scale(n: int) -> int:
        return 10 * n

    return scale


scale = make_step()


@ml.pipeline
def import_mode(n: int = 1) -> int:
    return scale(n=n)
