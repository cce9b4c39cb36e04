"""Music generation: a GPT or LSTM over note events of the Bach chorales (or any MIDI/MusicXML).

The symbolic-music recipe of BachBot (Liang 2016) and Music Transformer (Huang et al. 2019),
small: the event tokens of ``tokenizer.py``, next-token cross-entropy, sampling with temperature /
top-k / top-p. Every evaluation writes a MIDI file and a synthesized WAV to media/ (W&B audio)
and scores the sample against the corpus (``metrics.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.errors import UserError
from workbench.generators.music import metrics as mm
from workbench.generators.music.config import MusicConfig
from workbench.generators.music.corpus import load_pieces, split_pieces
from workbench.generators.music.io import timeline, write_midi
from workbench.generators.music.synth import render
from workbench.generators.music.tokenizer import Measure, MusicTokenizer, pitches
from workbench.generators.seq.config import SequenceSampleOptions
from workbench.generators.seq.plugin import SequenceLM
from workbench.media import save_wav
from workbench.plugin import Serving


class MusicLM(SequenceLM[MusicConfig]):
    """A language model of note events."""

    def load_corpus(self) -> tuple[np.ndarray, np.ndarray, int]:
        d = self.cfg.data
        self.tokenizer = MusicTokenizer()
        pieces, self.names = load_pieces(d.path, d.voices, d.transpose, d.limit)
        train_idx, val_idx = split_pieces(len(pieces), d.val_fraction)
        self.train_pieces = [pieces[i] for i in train_idx]
        self.val_pieces = [pieces[i] for i in val_idx]
        self._reference: dict[str, Any] | None = None
        return (np.concatenate(self.train_pieces), np.concatenate(self.val_pieces),
                self.tokenizer.vocab_size)

    def __init__(self, cfg: MusicConfig, ctx: Any) -> None:
        super().__init__(cfg, ctx)
        if cfg.data.augment_semitones:
            self.data.augment = self._transpose_blocks

    def _transpose_blocks(self, chunk: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Shift every pitch token of each block by one random interval (the same for the block)."""
        k = self.cfg.data.augment_semitones
        shift = torch.randint(-k, k + 1, (chunk.shape[0], 1), generator=generator)
        t = self.tokenizer
        is_pitch = (chunk >= t.first_pitch) & (chunk <= t.last_pitch)
        moved = (chunk + shift).clamp(t.first_pitch, t.last_pitch)
        return torch.where(is_pitch, moved, chunk)

    def vocab_state(self) -> str:
        return " ".join(self.tokenizer.tokens)

    def eval_prompt(self) -> list[int]:
        return [self.tokenizer.bos]

    # ------------------------------------------------------------------ metrics
    def _voice_lines(self, piece_tokens: list[np.ndarray]) -> list[list[int]]:
        """Pitch sequences, one per voice of each piece (n-grams never cross voices)."""
        lines = []
        for toks in piece_tokens:
            for piece in self.tokenizer.decode(toks):
                n_voices = max(len(m) for m in piece)
                lines.extend(pitches(piece, v) for v in range(n_voices))
        return lines

    def reference(self) -> dict[str, Any]:
        """Corpus-side figures the samples are compared with (computed once)."""
        if self._reference is None:
            val_lines = self._voice_lines(self.val_pieces)
            val_pieces = [p for toks in self.val_pieces for p in self.tokenizer.decode(toks)]
            n = self.cfg.ngram
            self._reference = {
                "pc_hist": mm.pitch_class_histogram(p for line in val_lines for p in line),
                "in_key": float(np.mean([mm.in_key_fraction(pitches(p)) for p in val_pieces])),
                "range": float(np.mean([mm.pitch_range(pitches(p)) for p in val_pieces])),
                "train_ngrams": mm.ngrams(self._voice_lines(self.train_pieces), n),
                "val_ngrams": mm.ngrams(val_lines, n),
            }
        return self._reference

    def score(self, pieces: list[list[Measure]]) -> dict[str, float]:
        ref = self.reference()
        notes = [p for piece in pieces for p in pitches(piece)]
        lines = [pitches(piece, v) for piece in pieces for v in range(max(len(m) for m in piece))]
        n = self.cfg.ngram
        return {
            "eval/notes": float(len(notes)),
            "eval/in_key": mm.in_key_fraction(notes),
            "eval/corpus_in_key": ref["in_key"],
            "eval/pitch_class_distance": mm.histogram_distance(mm.pitch_class_histogram(notes), ref["pc_hist"]),
            "eval/pitch_range": mm.pitch_range(notes),
            "eval/corpus_pitch_range": ref["range"],
            "eval/ngram_copied_train": mm.copied_share(lines, ref["train_ngrams"], n),
            "eval/ngram_copied_val": mm.copied_share(lines, ref["val_ngrams"], n),
        }

    # ------------------------------------------------------------------ output
    def _write(self, ids: list[int], midi_path: Path) -> tuple[list[list[Measure]], Path, np.ndarray]:
        pieces = self.tokenizer.decode(ids)
        if not pieces:
            raise UserError("the model produced no notes; train it longer or raise --tokens.")
        write_midi(pieces, midi_path, self.cfg.bpm)
        audio = render(timeline(pieces), self.cfg.bpm, self.cfg.sample_rate)
        return pieces, midi_path, audio

    def log_sample(self, ids: list[int], step: int) -> dict[str, float]:
        logger = self.ctx.logger
        logger.log_text("eval/sample_tokens", self.tokenizer.to_text(ids), step)
        try:
            pieces, path, audio = self._write(ids, self.ctx.media_dir / "tmp_sample.mid")
        except UserError:
            return {"eval/notes": 0.0}
        logger.log_file("eval/sample.mid", path.read_bytes(), step)
        path.unlink()
        logger.log_audio("eval/sample", audio, self.cfg.sample_rate, step)
        return self.score(pieces)

    def sample(self, out: Path | None, options: SequenceSampleOptions) -> str:
        """A MIDI file (``out``, default media/sample_seed<S>.mid) and a WAV next to it."""
        opts, prompt = self.sample_options(options), options.prompt
        prompt_ids = [self.tokenizer.bos] + (self.tokenizer.from_text(prompt) if prompt else [])
        ids = self.generate(prompt_ids, **opts)
        if out is None:
            out = self.ctx.media_dir / f"sample_seed{opts['seed']}.mid"
        elif out.suffix.lower() not in (".mid", ".midi"):
            out = out / f"sample_seed{opts['seed']}.mid" if out.is_dir() or not out.suffix \
                else out.with_suffix(".mid")
        pieces, midi_path, audio = self._write(ids, out)
        wav_path = save_wav(audio, midi_path.with_suffix(".wav"), self.cfg.sample_rate)
        scores = self.score(pieces)
        lines = [f"wrote {midi_path} and {wav_path}"]
        lines += [f"{k.removeprefix('eval/'):<24} {v:.4g}" for k, v in scores.items()]
        return "\n".join(lines)

    def serving(self) -> Serving:
        """``workbench serve``: POST /sample, sampling settings in (an optional prompt of event
        tokens, "bar p67 d1 ..."), a MIDI file out; requests are sampled together."""
        from workbench.generators.music.io import midi_bytes
        from workbench.generators.seq.serving import GenerateRequest, sample_rows, settings

        def prepare(request: GenerateRequest) -> dict[str, Any]:
            prompt = self.tokenizer.from_text(request.prompt) if request.prompt else []
            return settings(self, request, [self.tokenizer.bos, *prompt])

        def predict(items: list[dict[str, Any]]) -> list[bytes]:
            ids = [list(i["prompt"]) for i in items]
            for step in sample_rows(self, items):
                for row, token in zip(ids, step):
                    if token is not None:
                        row.append(token)
            out = []
            for row in ids:
                pieces = self.tokenizer.decode(row)
                if not pieces:
                    raise UserError("the model produced no notes for this seed; try another "
                                    "seed or more tokens.")
                out.append(midi_bytes(pieces, self.cfg.bpm))
            return out

        return Serving(route="sample", summary="sampling settings in, a MIDI file of generated "
                       "music out", request=GenerateRequest, prepare=prepare, predict=predict,
                       output="audio/midi", example={"tokens": 200, "temperature": 1.0, "seed": 0})
