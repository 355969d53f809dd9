"""Downloads are sent in pieces of whole lines (api/streaming.py)."""

from __future__ import annotations

import pytest

from api.streaming import pieces


@pytest.mark.parametrize("size", [1, 10, 25, 1000])
def test_pieces_keep_every_character_and_never_split_a_line(size: int) -> None:
    lines = [f"line {n}: {'x' * (n % 7)}\n" for n in range(40)]
    sent = list(pieces(lines, size))
    assert "".join(sent) == "".join(lines)
    assert all(piece.endswith("\n") for piece in sent)
    assert all(len(piece) >= size for piece in sent[:-1])  # only the last one may be short
    # each piece is whole lines, and stops at the first line that takes it to `size`
    assert all(len(piece) - len(piece.rstrip("\n").rsplit("\n", 1)[-1]) - 1 < size for piece in sent)


def test_nothing_gives_no_piece_and_a_long_line_is_a_piece_of_its_own() -> None:
    assert list(pieces([], 10)) == []
    assert list(pieces(["short\n", "a much longer line\n", "x\n"], 5)) == ["short\n", "a much longer line\n", "x\n"]
