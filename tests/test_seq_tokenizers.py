"""Tokenizer round trips: characters, and note events including rests and durations."""

from __future__ import annotations

import pytest

from workbench.errors import UserError
from workbench.generators.music.tokenizer import DURATIONS, MusicTokenizer, pitches
from workbench.generators.seq.tokenizers import CharTokenizer


def test_text_round_trip_is_exact():
    text = "ROMEO:\nBut, soft! what light through yonder window breaks?\n\nJULIET:\nAy me!\n"
    tok = CharTokenizer.from_text(text)
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert ids.max() < tok.vocab_size == len(set(text))


def test_text_with_unknown_characters_is_a_clear_error():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(UserError, match="never saw"):
        tok.encode("abz")


def test_music_round_trip_keeps_rests_and_durations_of_one_voice():
    tok = MusicTokenizer()
    piece = [
        [[(67, 1.0), (None, 0.5), (69, 0.5), (71, 2.0)]],
        [[(72, 0.25), (71, 0.75), (None, 1.0), (60, 1.5), (62, 0.5)]],
        [[(None, 4.0)]],
        [[(64, 3.0), (65, 8.0)]],
    ]
    ids = tok.encode(piece)
    assert ids[0] == tok.bos and ids[-1] == tok.eos
    assert tok.decode(ids) == [piece]
    assert pitches(piece) == [67, 69, 71, 72, 71, 60, 62, 64, 65]


def test_music_round_trip_keeps_four_voices_apart():
    tok = MusicTokenizer()
    piece = [
        [[(72, 2.0), (71, 2.0)], [(64, 1.0), (None, 1.0), (62, 2.0)], [(55, 4.0)], [(48, 2.0), (43, 2.0)]],
        [[(72, 4.0)], [(64, 4.0)], [(None, 4.0)], [(36, 4.0)]],
    ]
    ids = tok.encode(piece)
    assert tok.to_text(ids).split()[:4] == ["<bos>", "bar", "S", "p72"]
    assert tok.decode(ids) == [piece]


def test_every_duration_of_the_grid_survives_and_others_snap_to_it():
    tok = MusicTokenizer()
    piece = [[[(60, d) for d in DURATIONS]]]
    assert tok.decode(tok.encode(piece)) == [piece]
    triplet = tok.decode(tok.encode([[[(60, 1 / 3)]]]))
    assert triplet == [[[[(60, 0.25)]]]]


def test_decoding_is_lenient_to_broken_grammar_and_splits_pieces():
    tok = MusicTokenizer()
    ids = tok.from_text("<bos> bar p60 p62 d2 d1 <eos> <bos> bar rest d1 p64 d1 <eos>")
    first, second = tok.decode(ids)
    assert first == [[[(60, 1.0), (62, 2.0)]]]  # a pitch without duration lasts a quarter
    assert second == [[[(None, 1.0), (64, 1.0)]]]


def test_music_prompt_with_unknown_token_is_a_clear_error():
    with pytest.raises(UserError, match="unknown tokens"):
        MusicTokenizer().from_text("bar p60 d1 C#4")
