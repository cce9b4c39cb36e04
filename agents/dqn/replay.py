"""A replay buffer built for Atari: each frame stored once, stacks rebuilt at sampling time.

The vector env hands back stacks of the last ``stack`` frames; storing them (twice, as obs and
next obs) costs 8x the memory of storing the newest frame once. Here slot ``t`` of env ``e`` holds
the newest frame of the observation at time ``t``, the action taken from it, the reward that
followed, and flags; a stack is frames ``t-stack+1 .. t`` with the frames before the episode's
first one zeroed (as ale-py's vector env does at reset), and the next observation of an n-step
transition is the stack at ``t+m`` (Sutton 1988; Hessel et al. 2018, "Rainbow").

Storage is ``[capacity // num_envs, num_envs, *frame_shape]``: all envs step together, so one write
pointer serves them all and one step is one contiguous write. Sampling is vectorized NumPy (no
per-transition Python). 1,000,000 Pong transitions take 1e6 * 84 * 84 bytes = 7.1 GB.

Flags per slot: ``first`` (first obs of an episode), ``terminal`` (no bootstrap after this step:
game over, or a life loss when training on lives), ``truncated`` (time limit: bootstrap from the
final obs), ``dead`` (the autoreset step: its action was ignored, never sampled as a start).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class ReplayBuffer:
    def __init__(self, capacity: int, num_envs: int, frame_shape: tuple[int, ...],
                 frame_dtype: Any = np.uint8, stack: int = 4, n_step: int = 1,
                 gamma: float = 0.99, seed: int = 0) -> None:
        self.slots = max(capacity // num_envs, stack + n_step + 1)
        self.num_envs = num_envs
        self.stack = stack
        self.n_step = n_step
        self.gamma = gamma
        shape = (self.slots, num_envs)
        self.frames = np.zeros(shape + tuple(frame_shape), dtype=frame_dtype)
        self.actions = np.zeros(shape, np.int64)
        self.rewards = np.zeros(shape, np.float32)
        self.first = np.zeros(shape, bool)
        self.terminal = np.zeros(shape, bool)
        self.truncated = np.zeros(shape, bool)
        self.dead = np.zeros(shape, bool)
        self.t = 0  # slots written so far, per env (all envs write together)
        self.rng = np.random.default_rng(seed)
        self._discounts = gamma ** np.arange(n_step + 1, dtype=np.float64)

    def __len__(self) -> int:
        return min(self.t, self.slots) * self.num_envs

    def add(self, frame: np.ndarray, action: np.ndarray, reward: np.ndarray, first: np.ndarray,
            terminal: np.ndarray, truncated: np.ndarray, dead: np.ndarray) -> None:
        """One vector step: ``frame`` is the newest frame of the obs the actions were taken from."""
        i = self.t % self.slots
        self.frames[i] = frame
        self.actions[i] = action
        self.rewards[i] = reward
        self.first[i] = first
        self.terminal[i] = terminal
        self.truncated[i] = truncated
        self.dead[i] = dead
        self.t += 1

    def stacks(self, t: np.ndarray, env: np.ndarray, channels_last: bool = False) -> np.ndarray:
        """Frame stacks ending at absolute times ``t`` (B,) of envs ``env`` -> (B, stack, *frame),
        or (B, *frame, stack) with ``channels_last`` (what a channels_last CNN reads: built here
        one frame position at a time, it costs half of a gather plus a transpose)."""
        times = (t[:, None] + np.arange(-self.stack + 1, 1)) % self.slots  # (B, stack)
        blank = None
        if self.stack > 1:
            # a frame is kept only if no episode starts after it, within the stack
            first = self.first[times[:, 1:], env[:, None]]
            blank = np.flip(np.cumsum(np.flip(first, 1), 1), 1) > 0  # (B, stack-1)
        if not channels_last:
            out = self.frames[times, env[:, None]]
            if blank is not None:
                out[:, :-1][blank] = 0
            return out
        out = np.empty((len(t), *self.frames.shape[2:], self.stack), self.frames.dtype)
        for c in range(self.stack):
            frame = self.frames[times[:, c], env]
            if c < self.stack - 1 and blank[:, c].any():
                frame[blank[:, c]] = 0
            out[..., c] = frame
        return out

    def _valid_range(self) -> tuple[int, int]:
        """Absolute start times whose stack and n-step window are still (or already) stored."""
        low = max(0, self.t - self.slots + self.stack - 1)
        high = self.t - 1 - self.n_step  # inclusive: slot t+n must be written
        return low, high

    def can_sample(self) -> bool:
        low, high = self._valid_range()
        return high >= low

    def sample_indices(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        low, high = self._valid_range()
        t = self.rng.integers(low, high + 1, batch_size)
        env = self.rng.integers(0, self.num_envs, batch_size)
        for _ in range(32):  # dead (autoreset) slots are ~1 per episode: a redraw or two fixes them
            bad = self.dead[t % self.slots, env]
            if not bad.any():
                break
            k = int(bad.sum())
            t[bad] = self.rng.integers(low, high + 1, k)
            env[bad] = self.rng.integers(0, self.num_envs, k)
        return t, env

    def nstep(self, t: np.ndarray, env: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """n-step return, bootstrap discount (gamma^m, 0 after a terminal) and next-obs time."""
        n = self.n_step
        times = (t[:, None] + np.arange(n)) % self.slots
        rewards = self.rewards[times, env[:, None]].astype(np.float64)
        terminal = self.terminal[times, env[:, None]]
        ends = terminal | self.truncated[times, env[:, None]]
        # m = steps until (and including) the first episode end in the window, else n
        has_end = ends.any(1)
        m = np.where(has_end, ends.argmax(1) + 1, n)
        keep = np.arange(n)[None, :] < m[:, None]
        returns = (rewards * self._discounts[:n] * keep).sum(1)
        ended_terminal = terminal[np.arange(len(t)), m - 1]
        discount = np.where(ended_terminal, 0.0, self._discounts[m])
        return returns.astype(np.float32), discount.astype(np.float32), t + m

    def sample(self, batch_size: int, channels_last: bool = False) -> dict[str, np.ndarray]:
        """A batch of n-step transitions; stacks as in :meth:`stacks`."""
        t, env = self.sample_indices(batch_size)
        returns, discount, t_next = self.nstep(t, env)
        return {
            "obs": self.stacks(t, env, channels_last),
            "actions": self.actions[t % self.slots, env],
            "returns": returns,
            "discounts": discount,
            "next_obs": self.stacks(t_next, env, channels_last),
        }

    def cut_episodes(self) -> None:
        """After a resume the envs start new games: slot ``t-1`` has no stored successor, so it
        is never a start, and windows that reach it end (truncated) one slot before."""
        if self.t >= 1:
            self.dead[(self.t - 1) % self.slots] = True
        if self.t >= 2:
            self.truncated[(self.t - 2) % self.slots] = True

    # ------------------------------------------------------------------ checkpoints
    _ARRAYS = ("frames", "actions", "rewards", "first", "terminal", "truncated", "dead")

    @property
    def nbytes(self) -> int:
        """The storage once full: what a checkpoint of a full buffer holds."""
        return sum(getattr(self, k).nbytes for k in self._ARRAYS)

    def state_dict(self) -> dict[str, Any]:
        """Zero-copy tensor views of the storage (only the written part) plus the RNG state."""
        used = min(self.t, self.slots)
        state: dict[str, Any] = {k: torch.from_numpy(getattr(self, k)[:used]) for k in self._ARRAYS}
        state.update(t=self.t, slots=self.slots, num_envs=self.num_envs,
                     rng=self.rng.bit_generator.state)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["slots"] != self.slots or state["num_envs"] != self.num_envs:
            from workbench.errors import CheckpointError

            raise CheckpointError(
                f"the checkpoint's replay buffer has {state['slots']} slots x {state['num_envs']} envs; "
                f"this config makes {self.slots} x {self.num_envs}. Keep buffer_size and num_envs."
            )
        for k in self._ARRAYS:
            src = state[k].numpy()
            getattr(self, k)[: len(src)] = src
        self.t = int(state["t"])
        self.rng.bit_generator.state = state["rng"]
