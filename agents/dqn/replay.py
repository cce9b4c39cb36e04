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

With ``prioritized=True`` it samples in proportion to priority (Schaul et al. 2016, "Prioritized
Experience Replay", the proportional variant; Rainbow's alpha 0.5): a :class:`SumTree` over the
``slots x num_envs`` transitions holds ``priority ** alpha``, a transition enters at the largest
priority seen so far, and a leaf is non-zero exactly while its transition can be sampled (its
stack and n-step window stored, not an autoreset slot), so a draw never needs a redraw. Written
here rather than taken from TorchRL or Tianshou because their buffers store whole observations:
a prioritized one of theirs would hold each Pong frame 8 times (obs and next obs, 4 frames each).

Flags per slot: ``first`` (first obs of an episode), ``terminal`` (no bootstrap after this step:
game over, or a life loss when training on lives), ``truncated`` (time limit: bootstrap from the
final obs), ``dead`` (the autoreset step: its action was ignored, never sampled as a start).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class SumTree:
    """A binary tree of sums in one float64 array (leaf ``i`` at ``size + i``, node ``k``'s
    children at ``2k, 2k+1``): set a batch of leaves and find the leaves that hold a batch of
    prefix sums, each in O(log n) vectorized NumPy steps."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.size = 1 << max(1, (n - 1).bit_length())
        self.tree = np.zeros(2 * self.size)

    @property
    def total(self) -> float:
        return float(self.tree[1])

    @property
    def leaves(self) -> np.ndarray:
        return self.tree[self.size:self.size + self.n]

    def set(self, index: np.ndarray, values: np.ndarray) -> None:
        """Leaves ``index`` (repeats allowed: the last value wins) to ``values``, then their sums."""
        node = np.asarray(index, np.int64) + self.size
        self.tree[node] = values
        node = np.unique(node >> 1)
        while True:  # one level at a time; all nodes of a level are recomputed from their children
            self.tree[node] = self.tree[2 * node] + self.tree[2 * node + 1]
            if node[0] == 1:
                break
            node = np.unique(node >> 1)

    def rebuild(self) -> None:
        """Every sum from the leaves (after a load): the same numbers :meth:`set` keeps."""
        for level in range(self.size.bit_length() - 2, -1, -1):
            lo = 1 << level
            self.tree[lo:2 * lo] = self.tree[2 * lo:4 * lo:2] + self.tree[2 * lo + 1:4 * lo:2]

    def find(self, mass: np.ndarray) -> np.ndarray:
        """For each ``mass`` in [0, total): the leaf whose span of the running sum holds it."""
        node = np.ones(len(mass), np.int64)
        mass = np.asarray(mass, np.float64).copy()
        while node[0] < self.size:
            left = 2 * node
            left_sum = self.tree[left]
            # rounding can leave a mass a hair above a subtree's sum: never step into an empty one
            right = (mass >= left_sum) & (self.tree[left + 1] > 0) | (left_sum <= 0)
            mass = np.where(right, mass - left_sum, mass)
            node = np.where(right, left + 1, left)
        return node - self.size


class ReplayBuffer:
    def __init__(self, capacity: int, num_envs: int, frame_shape: tuple[int, ...],
                 frame_dtype: Any = np.uint8, stack: int = 4, n_step: int = 1,
                 gamma: float = 0.99, seed: int = 0, prioritized: bool = False,
                 alpha: float = 0.5) -> None:
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
        self.alpha = alpha
        self.tree = SumTree(self.slots * num_envs) if prioritized else None
        self.max_priority = 1.0  # of priority ** alpha: where a new transition starts

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
        if self.tree is None:
            self.t += 1
            return
        low, high = self._valid_range()
        self.t += 1
        new_low, new_high = self._valid_range()
        # the starts that left the window (their stack was overwritten) and those that entered it
        # (their n-step window is now stored) change weight: the leaves stay non-zero exactly
        # where sample_indices would draw
        gone = np.arange(low, new_low)
        came = np.arange(max(high + 1, new_low), new_high + 1)
        if len(gone):
            self.tree.set(self._leaves(gone), 0.0)
        if len(came):
            self._enter(came)

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

    def _leaves(self, t: np.ndarray) -> np.ndarray:
        """Leaf ids of every env at absolute times ``t`` (slot-major, env-minor)."""
        return ((t % self.slots)[:, None] * self.num_envs + np.arange(self.num_envs)).ravel()

    def _enter(self, t: np.ndarray) -> None:
        """The transitions starting at absolute times ``t`` become samplable: the largest priority
        so far, zero for an autoreset slot."""
        assert self.tree is not None
        live = ~self.dead[t % self.slots]  # (len(t), num_envs)
        self.tree.set(self._leaves(t), np.where(live, self.max_priority, 0.0).ravel())

    def sample_prioritized(self, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start times, envs and leaf ids drawn in proportion to priority, one draw from each of
        ``batch_size`` equal slices of the total (Schaul et al. 2016, "stratified")."""
        assert self.tree is not None
        total = self.tree.total
        mass = (np.arange(batch_size) + self.rng.random(batch_size)) * (total / batch_size)
        leaf = self.tree.find(np.minimum(mass, np.nextafter(total, 0)))
        slot, env = np.divmod(leaf, self.num_envs)
        # the absolute time now held by each slot: the latest t written there
        t = slot + self.slots * ((self.t - 1 - slot) // self.slots)
        return t, env, leaf

    def importance_weights(self, leaf: np.ndarray, beta: float) -> np.ndarray:
        """``(N P(i)) ** -beta`` scaled so the batch's largest is 1 (as Dopamine does): the
        correction for sampling a transition more often than uniform replay would."""
        assert self.tree is not None
        p = self.tree.leaves[leaf]
        w = (p / p.min()) ** -beta
        return w.astype(np.float32)

    def update_priorities(self, leaf: np.ndarray, td_error: np.ndarray, eps: float = 1e-6) -> None:
        """New priorities ``(|td| + eps) ** alpha`` for the sampled transitions (the last of a
        repeated one wins). A leaf that is no longer samplable stays at zero."""
        assert self.tree is not None
        p = (np.abs(np.asarray(td_error, np.float64)) + eps) ** self.alpha
        p = np.where(self.tree.leaves[leaf] > 0, p, 0.0)
        self.max_priority = max(self.max_priority, float(p.max(initial=0.0)))
        self.tree.set(leaf, p)

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

    def sample(self, batch_size: int, channels_last: bool = False,
               beta: float = 0.4) -> dict[str, np.ndarray]:
        """A batch of n-step transitions; stacks as in :meth:`stacks`. Prioritized, it also holds
        the leaf ids (for :meth:`update_priorities`) and the importance weights at ``beta``."""
        extra: dict[str, np.ndarray] = {}
        if self.tree is None:
            t, env = self.sample_indices(batch_size)
        else:
            t, env, leaf = self.sample_prioritized(batch_size)
            extra = {"leaves": leaf, "weights": self.importance_weights(leaf, beta)}
        returns, discount, t_next = self.nstep(t, env)
        return extra | {
            "obs": self.stacks(t, env, channels_last),
            "actions": self.actions[t % self.slots, env],
            "returns": returns,
            "discounts": discount,
            "next_obs": self.stacks(t_next, env, channels_last),
        }

    def cut_episodes(self) -> None:
        """After a resume the envs start new games: slot ``t-1`` has no stored successor, so it
        is never a start, and windows that reach it end (truncated) one slot before. (Its leaf is
        still zero: it enters the sum tree only n_step writes later, and then as dead.)"""
        if self.t >= 1:
            self.dead[(self.t - 1) % self.slots] = True
        if self.t >= 2:
            self.truncated[(self.t - 2) % self.slots] = True

    # ------------------------------------------------------------------ checkpoints
    _ARRAYS = ("frames", "actions", "rewards", "first", "terminal", "truncated", "dead")

    @property
    def nbytes(self) -> int:
        """The storage once full: what a checkpoint of a full buffer holds."""
        tree = self.tree.tree.nbytes if self.tree is not None else 0
        return sum(getattr(self, k).nbytes for k in self._ARRAYS) + tree

    def state_dict(self) -> dict[str, Any]:
        """Zero-copy tensor views of the storage (only the written part) plus the RNG state."""
        used = min(self.t, self.slots)
        state: dict[str, Any] = {k: torch.from_numpy(getattr(self, k)[:used]) for k in self._ARRAYS}
        state.update(t=self.t, slots=self.slots, num_envs=self.num_envs,
                     rng=self.rng.bit_generator.state)
        if self.tree is not None:
            state.update(priorities=torch.from_numpy(self.tree.leaves), max_priority=self.max_priority)
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
        if self.tree is None:
            return
        if "priorities" in state:
            self.tree.leaves[:] = state["priorities"].numpy()
            self.max_priority = float(state["max_priority"])
            self.tree.rebuild()
        else:  # saved by a uniform buffer: every samplable transition starts at one priority
            self.tree.tree[:] = 0.0
            low, high = self._valid_range()
            if high >= low:
                self._enter(np.arange(low, high + 1))
