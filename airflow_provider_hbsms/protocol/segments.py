"""Billed-segment counting for domestic Chinese carriers."""

from __future__ import annotations

#: Characters that fit one single message.
SINGLE_SEGMENT_CHARS = 70
#: Characters per segment of a long (concatenated) message.
MULTI_SEGMENT_CHARS = 67


def count_segments(content: str, signature: str = "") -> int:
    """Billed segments of one message.

    Every character counts 1, the signature ``【...】`` included when the account appends one:
    up to 70 characters is one message, a longer one is split into segments of 67.

    :param content: the text as sent.
    :param signature: the signature the gateway appends, if any (counted unless already present).
    """
    length = len(content)
    if signature and signature not in content:
        length += len(signature)
    if length <= SINGLE_SEGMENT_CHARS:
        return 1 if length else 0
    return -(-length // MULTI_SEGMENT_CHARS)
