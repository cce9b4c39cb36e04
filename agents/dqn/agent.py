"""Deep Q-learning (Mnih et al. 2015, "Human-level control through deep reinforcement learning")
with the Rainbow-lite options that make it fast: Double DQN (van Hasselt et al. 2016), a dueling
head (Wang et al. 2016), n-step returns, Adam and, on request, prioritized replay (Schaul et al.
2016) (Hessel et al. 2018, "Rainbow") and return quantiles in place of one Q-value per action
(QR-DQN: Dabney et al. 2018).

The workbench's rollout loop (workbench/rollout/agent.py) steps the envs; this file is the math:
epsilon-greedy ``act``, ``observe`` into the frame-once replay buffer, and ``learn``, called at
every vector step *while the C++ envs step* (``learn_while_stepping``). ``step`` counts env
steps; with N envs each vector step does N / train_frequency x gradient_steps updates (a
fractional credit carries over), so the replay ratio does not depend on num_envs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workbench.agents.dqn.config import DQNConfig, DQNEvalOptions, DQNExplainOptions
from workbench.agents.dqn.networks import MLP, CompactCNN, NatureCNN
from workbench.agents.dqn.replay import ReplayBuffer
from workbench.plugin import Context, Serving
from workbench.rollout.agent import Agent, Transition
from workbench.rollout.evaluation import Policy
from workbench.rollout.evaluation import random_policy_return as random_policy_return  # re-export
from workbench.runtime import fused_optimizer_ok, optimizer_step


def linear_epsilon(step: int, start_e: float, end_e: float, duration: int) -> float:
    """CleanRL's linear schedule: start_e at step 0, end_e from ``duration`` on."""
    if duration <= 0 or step >= duration:
        return end_e
    return start_e + (end_e - start_e) * step / duration


def epsilon_greedy(obs: np.ndarray, epsilon: float, rng: np.random.Generator, num_actions: int,
                   greedy: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Uniform random actions with probability ``epsilon``, else the Q-network's argmax (which
    is skipped when every env explores)."""
    n = len(obs)
    explore = rng.random(n) < epsilon
    actions = rng.integers(0, num_actions, n)
    if not explore.all():
        actions = np.where(explore, actions, greedy(obs))
    return actions.astype(np.int64)


def td_target(returns: torch.Tensor, discounts: torch.Tensor, next_q_online: torch.Tensor | None,
              next_q_target: torch.Tensor) -> torch.Tensor:
    """n-step target ``R + gamma^m * Q_target(s', a*)``; Double DQN picks ``a*`` with the online
    net (van Hasselt et al. 2016), plain DQN with the target net itself."""
    if next_q_online is None:
        next_value = next_q_target.max(dim=1).values
    else:
        best = next_q_online.argmax(dim=1, keepdim=True)
        next_value = next_q_target.gather(1, best).squeeze(1)
    return returns + discounts * next_value.float()


def quantile_huber_loss(quantiles: torch.Tensor, target: torch.Tensor,
                        kappa: float = 1.0) -> torch.Tensor:
    """QR-DQN's loss per sample (Dabney et al. 2018, eq. 10): the N predicted quantiles
    (batch, N) sit at the midpoints tau_i = (2i + 1) / 2N; each is regressed on every target
    sample (batch, M) with the quantile Huber loss |tau_i - 1{u < 0}| * Huber_kappa(u) / kappa,
    u = target_j - quantile_i; averaged over j and summed over i."""
    (b, n), m = quantiles.shape, target.shape[1]
    taus = (torch.arange(n, device=quantiles.device, dtype=quantiles.dtype) + 0.5) / n
    pred, samples = quantiles.unsqueeze(2).expand(b, n, m), target.unsqueeze(1).expand(b, n, m)
    huber = F.huber_loss(pred, samples, reduction="none", delta=kappa)  # (batch, N, M)
    weight = (taus.view(1, n, 1) - (samples < pred.detach()).to(pred.dtype)).abs()
    return (weight * huber).mean(dim=2).sum(dim=1) / kappa


class DQN(Agent[DQNConfig]):
    learn_while_stepping = True  # the update reads only stored transitions: overlap it

    def __init__(self, cfg: DQNConfig, ctx: Context) -> None:
        super().__init__(cfg, ctx)  # builds self.env (= ctx.env) and resets it
        e = cfg.env
        self.atari = self.env.atari
        obs_shape = self.env.obs_shape
        if self.atari:  # the env stacks frames; the buffer keeps only the newest one of each
            stack, frame_shape = obs_shape[0], obs_shape[1:]
            net = CompactCNN if cfg.network == "compact" else NatureCNN
            self.q = net(stack, self.env.num_actions, cfg.dueling, frame_size=tuple(frame_shape),
                         num_quantiles=cfg.num_quantiles)
        else:
            stack, frame_shape = 1, obs_shape
            self.q = MLP(int(np.prod(obs_shape)), self.env.num_actions, cfg.hidden, cfg.dueling,
                         num_quantiles=cfg.num_quantiles)
        self.channels_last = cfg.channels_last and self.atari
        self.q.to(ctx.device)
        if self.channels_last:
            self.q.to(memory_format=torch.channels_last)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        # the fused Adam kernel: one pass over the 1.7M weights instead of a chain of ops per
        # tensor; measured 1.3-1.6x more updates/s on a 2-core CPU (the update is the bottleneck)
        self.opt = torch.optim.Adam(self.q.parameters(), lr=cfg.lr, eps=cfg.adam_eps,
                                    fused=fused_optimizer_ok(ctx.device))
        self.scaler = ctx.grad_scaler()
        self.buffer = ReplayBuffer(cfg.buffer_size, e.num_envs, frame_shape, self.env.obs_dtype,
                                   stack=stack, n_step=cfg.n_step, gamma=cfg.gamma, seed=cfg.seed,
                                   prioritized=cfg.prioritized_replay, alpha=cfg.priority_alpha)
        self.checkpoint_replay = self.atari if cfg.checkpoint_replay is None else cfg.checkpoint_replay
        self.act_fn = ctx.compile(self.q, "q_network")
        self.loss_fn = ctx.compile(self._loss, "dqn_loss")
        self.rng = np.random.default_rng(cfg.seed + 1)
        self.update_credit = 0.0
        self.updates = 0
        self.eval_epsilon = cfg.eval_epsilon  # `workbench eval --epsilon` changes it

    # ------------------------------------------------------------------ acting
    def _to_device(self, array: np.ndarray, nhwc: bool = False) -> torch.Tensor:
        """A batch to the device; ``nhwc``: (B, H, W, C) arrays become channels_last NCHW views."""
        t = torch.from_numpy(array)
        if nhwc:
            t = t.permute(0, 3, 1, 2)
        if self.ctx.device.type == "cuda":  # pinned + async copy overlaps with the next batch
            t = t.pin_memory().to(self.ctx.device, non_blocking=True)
        else:
            t = t.to(self.ctx.device)
        if self.channels_last and t.dim() == 4 and not nhwc:
            t = t.contiguous(memory_format=torch.channels_last)
        return t

    @torch.no_grad()
    def greedy(self, obs: np.ndarray) -> np.ndarray:
        with self.ctx.autocast():
            q = self.act_fn(self._to_device(obs))
        return q.argmax(dim=1).cpu().numpy()

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        if explore:
            return epsilon_greedy(obs, self.epsilon(self.env_step), self.rng,
                                  self.env.num_actions, self.greedy)
        return epsilon_greedy(obs, self.eval_epsilon, self.eval_rng, self.env.num_actions,
                              self.greedy)

    def policy(self, epsilon: float, rng: np.random.Generator) -> Policy:
        """Epsilon-greedy play with its own draws (``workbench explain``'s game)."""
        return lambda obs: epsilon_greedy(obs, epsilon, rng, self.env.num_actions, self.greedy)

    def epsilon(self, step: int) -> float:
        c = self.cfg
        return linear_epsilon(step, c.start_e, c.end_e, c.exploration_steps)

    def learning_rate(self, step: int) -> float:
        """lr, or with lr_decay_steps a line from lr at step 0 to end_lr (the shape of epsilon's)."""
        c = self.cfg
        if not c.lr_decay_steps:
            return c.lr
        return linear_epsilon(step, c.lr, c.end_lr or 0.0, c.lr_decay_steps)

    def priority_beta(self, step: int) -> float:
        """Prioritized replay's importance-weight exponent: priority_beta at step 0 to 1 at
        total_steps (Schaul et al. 2016), so the correction is full when the run ends."""
        c = self.cfg
        return linear_epsilon(step, c.priority_beta, 1.0, c.total_steps)

    # ------------------------------------------------------------------ learning
    def _loss(self, obs: torch.Tensor, actions: torch.Tensor, returns: torch.Tensor,
              discounts: torch.Tensor, next_obs: torch.Tensor,
              weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.cfg.num_quantiles:
            return self._quantile_loss(obs, actions, returns, discounts, next_obs, weights)
        with torch.no_grad():
            next_q_target = self.q_target(next_obs)
            next_q_online = self.q(next_obs) if self.cfg.double else None
            target = td_target(returns, discounts, next_q_online, next_q_target)
        q = self.q(obs).gather(1, actions.unsqueeze(1)).squeeze(1).float()
        loss_fn = F.smooth_l1_loss if self.cfg.loss == "huber" else F.mse_loss
        # prioritized replay weighs each transition by its importance weight; uniform replay
        # keeps the fused mean, so a run without it is bitwise what it was before
        if weights is None:
            loss = loss_fn(q, target)
        else:
            loss = (loss_fn(q, target, reduction="none") * weights).mean()
        return loss, q.detach().mean(), (q.detach() - target).abs()

    def _quantile_loss(self, obs: torch.Tensor, actions: torch.Tensor, returns: torch.Tensor,
                       discounts: torch.Tensor, next_obs: torch.Tensor,
                       weights: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """QR-DQN: the n-step target distribution R + gamma^m * Z_target(s', a*), a* the argmax
        of the online net's mean (Double) or the target's, and the quantile Huber loss. The
        third output (priorities, with prioritized replay) is each sample's loss."""
        rows = torch.arange(len(actions), device=actions.device)
        with torch.no_grad():
            next_z = self.q_target.quantiles(next_obs).float()
            chooser = self.q(next_obs) if self.cfg.double else next_z.mean(dim=2)
            best = chooser.argmax(dim=1)
            target = returns.unsqueeze(1) + discounts.unsqueeze(1) * next_z[rows, best]
        z = self.q.quantiles(obs)[rows, actions].float()
        per_sample = quantile_huber_loss(z, target)
        loss = per_sample.mean() if weights is None else (per_sample * weights).mean()
        return loss, z.detach().mean(), per_sample.detach()

    def update(self) -> dict[str, torch.Tensor]:
        # channels_last stacks are built (B, H, W, C) by the buffer: no transpose afterwards
        prioritized = self.buffer.tree is not None
        beta = self.priority_beta(self.env_step) if prioritized else 0.0
        batch = self.buffer.sample(self.cfg.batch_size, channels_last=self.channels_last, beta=beta)
        nhwc = self.channels_last
        obs, next_obs = self._to_device(batch["obs"], nhwc), self._to_device(batch["next_obs"], nhwc)
        actions = self._to_device(batch["actions"])
        returns, discounts = self._to_device(batch["returns"]), self._to_device(batch["discounts"])
        weights = self._to_device(batch["weights"]) if prioritized else None
        with self.ctx.autocast():
            loss, q_mean, td = self.loss_fn(obs, actions, returns, discounts, next_obs, weights)
        norm = optimizer_step(loss, self.opt, self.scaler, self.q.parameters(),
                              self.cfg.max_grad_norm or None)
        if prioritized:  # the TD errors of this batch, before the step, as Schaul et al.
            self.buffer.update_priorities(batch["leaves"], td.float().cpu().numpy())
        self.updates += 1
        out = {"train/loss": loss.detach(), "train/q_mean": q_mean}
        if norm is not None:
            out["train/grad_norm"] = norm.detach()
        return out

    @torch.no_grad()
    def update_target(self) -> None:
        tau = self.cfg.tau
        for p_t, p in zip(self.q_target.parameters(), self.q.parameters()):
            if tau < 1:
                p_t.lerp_(p, tau)
            else:
                p_t.copy_(p)

    def observe(self, t: Transition) -> None:
        # the env stacks Atari frames; the buffer keeps only the newest frame of each stack
        frame = t.obs[:, -1] if self.atari else t.obs
        self.buffer.add(frame, t.actions, t.rewards, t.first, t.terminated, t.truncated,
                        t.reset_step)

    def learn(self, step: int) -> dict[str, Any]:
        """The gradient steps that are due at env step ``step`` (run while the envs step)."""
        cfg, n = self.cfg, self.env.num_envs
        metrics: dict[str, Any] = {"train/epsilon": self.epsilon(step)}
        if step + n > cfg.learning_starts and self.buffer.can_sample():
            if cfg.lr_decay_steps:
                lr = self.learning_rate(step)
                metrics["train/lr"] = lr
                for group in self.opt.param_groups:
                    group["lr"] = lr
            self.update_credit += n * cfg.gradient_steps / cfg.train_frequency
            for _ in range(int(self.update_credit)):
                metrics.update(self.update())
            self.update_credit -= int(self.update_credit)
            if step // cfg.target_network_frequency != (step + n) // cfg.target_network_frequency:
                self.update_target()
        return metrics

    # ------------------------------------------------------------------ evaluation
    def eval_policy(self) -> str:
        return f"at epsilon {self.eval_epsilon:g}"

    def eval_report(self, step: int, opts: DQNEvalOptions) -> str:
        """``workbench eval RUN``: the workbench's report, at ``--epsilon`` if given."""
        if opts.epsilon is not None:
            self.eval_epsilon = opts.epsilon
        return super().eval_report(step, opts)

    def explain(self, step: int, out: Path | None, opts: DQNExplainOptions) -> str:
        """``workbench explain RUN_DIR``: one game with attribution overlays (agents/dqn/explain.py)."""
        from workbench.agents.dqn.explain import explain

        return explain(self, step, out, opts)

    # ------------------------------------------------------------------ checkpoints
    # the networks, optimizer, scaler, exploration RNG and counters (these keys are the
    # checkpoint format: runs saved before must still resume; the rollout base adds "evaluations")
    checkpointed = ("q", "q_target", "opt", "scaler", "rng", "update_credit", "updates")

    # `checkpointed` cannot say "only when checkpoint_replay" or "cut episodes after loading":
    # the optional replay buffer is added here
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.checkpoint_replay:
            state["replay"] = self.buffer.state_dict()
        return state

    def checkpoint_nbytes(self) -> int | None:
        """With the replay buffer the checkpoint grows to the full buffer (~700 MB for Pong)."""
        if not self.checkpoint_replay:
            return None
        from workbench.engine.checkpoint import estimate_bytes

        return estimate_bytes({k: v for k, v in self.state_dict().items() if k != "replay"}) + self.buffer.nbytes

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if "replay" in state:
            self.buffer.load_state_dict(state["replay"])
            self.buffer.cut_episodes()  # the envs restart their games: no transition spans that

    def export_module(self) -> tuple[nn.Module, torch.Tensor]:
        example = torch.from_numpy(np.ascontiguousarray(self.obs[:1]))
        return self.q, example

    def serving(self) -> Serving:
        """``workbench serve``: POST /act, an observation in, the action and Q-values out."""
        from workbench.agents.dqn.serving import dqn_serving

        return dqn_serving(lambda obs: self.q(self._to_device(obs)), self.env, self.obs[0])
