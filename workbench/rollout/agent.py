"""The rollout loop every agent runs on: the workbench owns the envs, the agent owns its math.

Shape (Stable-Baselines3's ``collect_rollouts`` / ``train`` split, with TorchRL's and
Tianshou's point that the collector is not part of the policy): the workbench builds the
vector env from the config's ``env`` section, steps it with the agent's :meth:`Agent.act`,
hands each vector step to :meth:`Agent.observe` as a :class:`Transition`, keeps episode
statistics across auto-resets, counts env steps, and calls :meth:`Agent.learn` when the agent
says: every ``rollout_length`` vector steps (an on-policy agent: one full rollout), or every
vector step *while the envs compute it* (``learn_while_stepping``: an off-policy agent whose
update reads only what is already stored, so that the C++ envs and the gradient step overlap).
Evaluation games (with their seeds), the final evaluation, the evaluation video and
``workbench eval RUN`` are the workbench's too (workbench/rollout/evaluation.py).

One ``train_step`` call of the loop is one collection of ``rollout_length`` vector steps and
its learning: ``steps_per_call = num_envs x rollout_length`` env steps.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from workbench.envs.vector import VectorEnv
from workbench.plugin import Context, Plugin
from workbench.rollout.config import AgentConfig, AgentEvalOptions
from workbench.rollout.evaluation import Game, play, report, summary, why_no_video

log = logging.getLogger("workbench")

C = TypeVar("C", bound=AgentConfig)


@dataclass
class Transition:
    """One vector step of the training envs (arrays with one row per env), as ``observe`` gets it.

    With gymnasium's next-step autoreset, the step after an episode ends only resets its env:
    its action is ignored and ``reset_step`` marks it; learn nothing from such a row."""

    obs: np.ndarray
    """the observations the actions were taken from"""
    actions: np.ndarray
    """what ``act`` returned for them"""
    rewards: np.ndarray
    """float32 rewards, clipped to their sign when ``env.clip_rewards`` (episode returns stay true scores)"""
    terminated: np.ndarray
    """no bootstrap after this step: the game ended (or a life was lost, with ``env.life_loss_terminal``)"""
    truncated: np.ndarray
    """a time limit ended the episode: bootstrap from ``next_obs``"""
    next_obs: np.ndarray
    """the observations after the step (an ended episode's final one)"""
    first: np.ndarray
    """``obs`` is the first of its episode"""
    reset_step: np.ndarray
    """this step only reset the env: its action was ignored, its reward is 0"""


@dataclass
class Evaluation:
    games: list[Game]
    seed: int
    video: Path | None = None
    """the GIF written, if one was asked for and could be made"""
    no_video: str | None = None
    """why a video that was asked for was not made"""


class Agent(Plugin[C]):
    """Base class of agents: ``class PPO(Agent[PPOConfig])``. Implement :meth:`act`,
    :meth:`observe` and :meth:`learn` (and ``checkpointed``); do not override ``train_step``,
    ``evaluate`` or ``eval_report``: they are the workbench's rollout and evaluation code.

    ``ctx.env`` (also ``self.env``) is the training :class:`~workbench.envs.vector.VectorEnv`,
    built before your ``__init__`` body runs: ``env.num_envs``, ``env.num_actions``,
    ``env.obs_shape``, ``env.obs_dtype``, ``env.atari``. ``self.env_step`` is the number of env
    steps done before the current vector step (for schedules in ``act``)."""

    rollout_length: int = 1
    """vector steps collected per ``learn`` call (an on-policy agent: its rollout, e.g. 128)"""
    learn_while_stepping: bool = False
    """True: ``learn`` is called at every vector step, between sending the actions and receiving
    the envs' answer, so an off-policy update overlaps with env stepping (DQN)"""

    def __init__(self, cfg: C, ctx: Context) -> None:
        super().__init__(cfg, ctx)
        if ctx.env is None:
            ctx.env = VectorEnv.from_config(cfg.env, cfg.seed)
        self.env: VectorEnv = ctx.env
        self.env_step = 0
        self.evaluations = 0  # a new seed for each evaluation; saved in the checkpoint
        self.eval_rng = np.random.default_rng(cfg.seed)  # reseeded for each evaluation
        self.obs = self.env.reset()
        self.obs_first = np.ones(self.env.num_envs, bool)
        self._no_video: str | None = None
        self._video_checked = self._warned = False

    @property
    def steps_per_call(self) -> int:  # type: ignore[override]
        return self.env.num_envs * self.rollout_length

    # ------------------------------------------------------------------ the agent's hooks
    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        """Actions (one per env, int64) for a batch of observations. ``explore=True`` while
        training (epsilon-greedy, sampling from the policy); ``False`` in evaluation games (the
        greedy policy; random draws there come from ``self.eval_rng``, seeded per evaluation)."""
        raise NotImplementedError

    def observe(self, transition: Transition) -> None:
        """Called after every vector step of training with what happened: store it (a replay
        buffer, the current rollout)."""
        raise NotImplementedError

    def learn(self, step: int) -> Mapping[str, Any]:
        """Learn from what was observed: after every ``rollout_length`` vector steps, or at every
        vector step while the envs step (``learn_while_stepping``). ``step``: env steps done
        before the collection (before this vector step). Returns ``{"train/...": value}``."""
        raise NotImplementedError

    def eval_policy(self) -> str:
        """How evaluation games are played, for ``workbench eval``'s summary line (DQN: "at
        epsilon 0.001"); default: nothing said."""
        return ""

    # ------------------------------------------------------------------ collection
    def train_step(self, step: int) -> dict[str, Any]:
        env, n = self.env, self.env.num_envs
        clip = self.cfg.env.clip_rewards
        metrics: dict[str, Any] = {}
        for t in range(self.rollout_length):
            self.env_step = step + t * n
            actions = self.act(self.obs, True)
            env.send(actions)  # the C++ Atari envs step in their own threads from here
            if self.learn_while_stepping:
                metrics.update(self.learn(self.env_step))
            next_obs, reward, terminated, truncated, reset_step = env.recv()
            self.observe(Transition(self.obs, actions, np.sign(reward) if clip else reward,
                                    terminated, truncated, next_obs, self.obs_first, reset_step))
            self.obs, self.obs_first = next_obs, reset_step
        if not self.learn_while_stepping:
            self.env_step = step + self.steps_per_call
            metrics.update(self.learn(step))
        returns, lengths = env.stats.drain()
        if returns:
            metrics["train/episode_return"] = float(np.mean(returns))
            metrics["train/episode_length"] = float(np.mean(lengths))
        return metrics

    # ------------------------------------------------------------------ evaluation
    def play_evaluation(self, step: int, episodes: int | None = None, video: bool | None = None,
                        seed: int | None = None, out: Path | None = None) -> Evaluation:
        """Full games with ``act(obs, explore=False)``; the evaluation at total_steps plays
        final_eval_episodes. One game is filmed when ``video`` (default: eval_video), to
        ``out`` if named, else to the run's media/ and W&B."""
        from workbench.media import real_time, save_gif

        c = self.cfg
        final = step >= c.total_steps
        episodes = episodes or (c.final_eval_episodes if final else c.eval_episodes)
        self.evaluations += 1
        seed = 10_000 + c.seed * 1_000 + self.evaluations if seed is None else seed
        video = c.eval_video if video is None else video
        if video and not self._video_checked:  # once per process: it may build an env
            self._no_video, self._video_checked = why_no_video(c.env), True
        self.eval_rng = np.random.default_rng(seed)
        games, film = play(lambda obs: self.act(obs, False), c.env, episodes, seed,
                           video and self._no_video is None)
        result = Evaluation(games, seed, no_video=self._no_video if video else None)
        if film is not None:
            frames, fps = real_time(film.frames, film.fps)
            if out is not None:
                result.video = save_gif(frames, out / f"eval-step{step}-seed{seed}.gif", fps=fps)
            else:
                result.video = self.ctx.logger.log_video("eval/video", frames, step, fps=fps)
        elif video and result.no_video is None:
            result.no_video = "the RGB twin emulator diverged from the agent's game"
        return result

    def evaluate(self, step: int) -> dict[str, float]:
        result = self.play_evaluation(step)
        if result.no_video and not self._warned:
            self._warned = True  # said once; the run goes on without videos
            log.warning("no evaluation video: %s", result.no_video)
        return summary(result.games)

    def eval_report(self, step: int, opts: AgentEvalOptions) -> str:
        """``workbench eval RUN``: one line per game and the mean (default: final_eval_episodes)."""
        out = Path(opts.out) if opts.out else None
        if out is not None:  # before the games are played, not after them
            from workbench.errors import check_folder

            check_folder(out, "--out", "Give a folder (new or existing) for the video.")
        result = self.play_evaluation(step, opts.episodes or self.cfg.final_eval_episodes,
                                      opts.video, opts.seed, out)
        lines = report(result.games, result.seed, self.eval_policy())
        if result.video is not None:
            lines.append(f"video: {result.video}")
        elif opts.video:
            lines.append(f"no video: {result.no_video or 'nothing was written'}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The agent's state (``checkpointed``) plus the evaluation counter, so a resumed run
        plays its next evaluation with the seed it would have had."""
        state = super().state_dict()
        state["evaluations"] = self.evaluations
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.evaluations = int(state.get("evaluations", 0))

    def close(self) -> None:
        self.env.close()
