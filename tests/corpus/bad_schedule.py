import mlopsdsl as ml


@ml.step
def refresh() -> int:
    return 1


@ml.pipeline(schedule="every night")  # error: schedule 'every night' of pipeline 'nightly' is not a cron schedule (five fields such as '0 3 * * *', or @daily, @hourly...)
def nightly() -> int:
    return refresh()
