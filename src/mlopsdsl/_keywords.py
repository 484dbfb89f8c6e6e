"""Unknown keywords: what a misspelled option or argument is reported as.

A keyword that nothing reads would otherwise vanish: ``@ml.step(retries=3)`` would build a step that never
retries, and say "ok". Every place that takes options by keyword (the decorators, the option types,
``.map``) checks the names it got against the names it knows with :func:`unknown_keywords`, so that the
message is the same everywhere: the closest known name when one is close (``did you mean 'retry'?``), the
full list when none is. Only the standard library is used, and :mod:`difflib` only once something is wrong,
because the decorators also run inside every step's container.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name most like ``name`` (ignoring case), if one is close enough to be a misspelling."""
    import difflib

    by_lower = {k.lower(): k for k in known}
    match = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def unknown_keywords(given: Iterable[str], known: Sequence[str], noun: str = "option") -> str | None:
    """A message naming each keyword of ``given`` that is not in ``known``; ``None`` when all are known.

    Args:
        given: The keywords the user wrote, in the order written.
        known: Every keyword that is accepted.
        noun: What a keyword is called in the message (``option``, ``argument``).

    Returns:
        ``unknown option 'retries'; did you mean 'retry'?``, or for a name like no known one,
        ``unknown option 'x'; the options are a, b, c``; several unknown names are listed in one message.
    """
    unknown = [name for name in given if name not in known]
    if not unknown:
        return None
    guesses = {name: closest(name, known) for name in unknown}
    if len(unknown) == 1 and guesses[unknown[0]] is not None:
        return f"unknown {noun} {unknown[0]!r}; did you mean {guesses[unknown[0]]!r}?"
    named = [
        f"{name!r} (did you mean {guess!r}?)" if guess else repr(name) for name, guess in guesses.items()
    ]
    listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    plural = "s" if len(unknown) > 1 else ""
    message = f"unknown {noun}{plural} {listed}"
    if any(guess is None for guess in guesses.values()):
        message += f"; the {noun}s are {', '.join(sorted(known))}"
    return message
