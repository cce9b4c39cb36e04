"""``workbench explain`` for DQN: what the agent looked at when it chose its actions.

The agent plays one evaluation game; at each step the chosen action's Q-value, Q(s, a), is
attributed to the observation with a Captum method (saliency by default: one backward pass per
frame). On Atari the attribution of the 4 stacked 84x84 frames is summed over the stack,
upscaled to the 210x160 RGB frame of the evaluation video's twin emulator and laid over it: a
GIF of the game and a PNG strip of a few frames. On classic control (CartPole) it is a chart of
each observation feature's attribution over the game.

Greydanus et al. 2018 ("Visualizing and understanding Atari agents") show such maps for Pong:
a trained agent watches the ball and its own paddle. They perturb the frame by blurring it, and
so do we: on Atari the reference input of integrated gradients, GradientSHAP and occlusion is
each frame blurred (``--baseline blur``, the default; ``black`` is all zeros, which on Pong's
brown field marks the whole field as informative). With integrated gradients (Sundararajan et
al. 2017) the attributions of a step sum to Q(s, a) - Q(baseline, a), the completeness that
tests/test_explain_dqn.py checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from workbench.agents.dqn import pretrained
from workbench.agents.dqn.config import DQNExplainOptions
from workbench.config import from_dict
from workbench.envs.config import EnvConfig
from workbench.envs.vector import is_atari
from workbench.errors import UserError
from workbench.explain import (
    SIGNED,
    USES_BASELINE,
    Output,
    attribute,
    figure_array,
    overlay,
    pyplot,
    resize,
    scale,
)
from workbench.media import real_time
from workbench.rollout import evaluation
from workbench.rollout.evaluation import Game, Policy

if TYPE_CHECKING:
    from workbench.agents.dqn.agent import DQN

FEATURES = {  # gymnasium's documented observation of the classic-control tasks
    "CartPole": ["cart position", "cart velocity", "pole angle", "pole angular velocity"],
    "MountainCar": ["position", "velocity"],
    "Acrobot": ["cos theta1", "sin theta1", "cos theta2", "sin theta2", "theta1 velocity",
                "theta2 velocity"],
}


def q_attributions(q: torch.nn.Module, obs: np.ndarray, actions: np.ndarray, method: str,
                   steps: int, device: torch.device, baseline: str = "black") -> torch.Tensor:
    """Attribution of Q(s, a) to each element of each observation ``obs`` (T, ...) for the
    ``actions`` (T,) taken. The baseline is an all-zero observation, or for image stacks with
    ``baseline="blur"`` each observation blurred (what the agent sees with the details gone)."""
    q.eval()
    x = torch.from_numpy(np.asarray(obs)).to(device).float()
    window = (x.shape[1], 8, 8) if x.dim() == 4 else (1,) * (x.dim() - 1)
    stride = (x.shape[1], 4, 4) if x.dim() == 4 else None
    reference = blurred(x) if baseline == "blur" and x.dim() == 4 and method in USES_BASELINE else 0.0
    return attribute(lambda s: q(s).float(), x, method, target=torch.as_tensor(actions, device=device),
                     baseline=reference, steps=steps, window=window, stride=stride).cpu()


def blurred(frames: torch.Tensor, sigma: float = 3.0) -> torch.Tensor:
    """Each channel of (N, C, H, W) Gaussian-blurred (sigma in pixels, edges replicated): the
    perturbation of Greydanus et al. 2018, who blur a patch rather than black it out, so the
    reference keeps the scene's colours but loses the ball and the paddles' exact place."""
    import torch.nn.functional as F

    radius = int(3 * sigma)
    t = torch.arange(-radius, radius + 1, dtype=torch.float32, device=frames.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = frames.shape[1]
    x = F.pad(frames.float(), (radius,) * 4, mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)  # along the width
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)  # along the height


class Recorder:
    """Stands in for the agent's policy while it plays: every observation and the action
    chosen on it are kept."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.obs: list[np.ndarray] = []
        self.actions: list[int] = []

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        actions = self.policy(obs)
        self.obs.append(obs[0].copy())
        self.actions.append(int(actions[0]))
        return actions


def play(policy: Policy, env: EnvConfig, seed: int) -> tuple[Recorder, Game, np.ndarray | None]:
    """One evaluation game, played by the workbench's evaluation code (workbench/rollout/) and
    on Atari filmed by its RGB twin; returns the recording, the game and the RGB frames (None
    off Atari, or when the twin could not follow)."""
    recorder = Recorder(policy)
    if is_atari(env.id) and env.repeat_action_probability == 0:
        game, film = evaluation.play_video_game(recorder, env, seed)
        return recorder, game, film.frames if film is not None else None
    (game,) = evaluation.play_games(recorder, env, 1, seed)[0]
    return recorder, game, None


def explain(agent: DQN, step: int, out: Path | None, opts: DQNExplainOptions) -> str:
    """``workbench explain RUN``: a run's agent at its last checkpoint."""
    epsilon = agent.cfg.eval_epsilon if opts.epsilon is None else opts.epsilon
    output = Output(agent.ctx.logger, out, step)
    act = agent.policy(epsilon, np.random.default_rng(opts.seed))
    return output.report(explain_game(agent.q, act, agent.cfg.env, agent.env.num_actions,
                                      agent.ctx.device, opts, epsilon, output, f"step {step:,}"))


def explain_pretrained(path: Path, out: Path | None, opts: DQNExplainOptions) -> str:
    """``workbench explain --pretrained NAME|FILE --out DIR``: trained weights, no run directory."""
    if out is None:
        raise UserError("explain --pretrained needs --out DIR: there is no run directory to put "
                        "the files in, and nothing is written where you did not ask.")
    net, meta = pretrained.load(path)
    env = from_dict(EnvConfig, meta["env"])
    epsilon = meta["eval_epsilon"] if opts.epsilon is None else opts.epsilon
    output = Output(None, out, meta["step"])
    act = pretrained.policy(net, meta, epsilon, np.random.default_rng(opts.seed))
    lines = explain_game(net, act, env, meta["net"]["num_actions"],
                         torch.device("cpu"), opts, epsilon, output,
                         f"{meta['preset']} at step {meta['step']:,}")
    return output.report([f"{meta['preset']} ({path})", *lines])


def explain_game(q: torch.nn.Module, act: Policy, env: EnvConfig, num_actions: int,
                 device: torch.device, opts: DQNExplainOptions, epsilon: float, output: Output,
                 what: str) -> list[str]:
    """Play one game with ``act`` (acting with ``q``), attribute its steps, write the files."""
    rec, game, frames = play(act, env, opts.seed)
    lines = [f"one game (seed {opts.seed}, epsilon {epsilon:g}): return {game.ret:+g}, "
             f"length {game.length:,} steps"]
    obs, actions = np.stack(rec.obs), np.asarray(rec.actions)
    with torch.no_grad():
        q_all = q.eval()(torch.from_numpy(obs).to(device)).float().cpu()
    q_taken = q_all[torch.arange(len(actions)), torch.as_tensor(actions)].numpy()
    if not is_atari(env.id):
        attr = q_attributions(q, obs, actions, opts.method, opts.steps, device)
        output.image(f"{opts.method}_features", feature_chart(
            obs, attr.numpy(), q_taken, env.id, opts.method, game.ret))
        names = feature_names(env.id, obs.shape[1])
        return [*lines, "mean |attribution| per feature: " + ", ".join(
            f"{n} {v:.3g}" for n, v in zip(names, attr.abs().mean(0).numpy()))]
    if frames is None:
        return [*lines, "no video: the RGB twin cannot follow this game (sticky actions, or it "
                "diverged); nothing written"]
    # the steps the video shows: every k-th, played in real time, as the evaluation video
    shown, fps = real_time(np.arange(len(actions)), 60 / env.frame_skip)
    attr = q_attributions(q, obs[shown], actions[shown], opts.method, opts.steps, device,
                          opts.baseline)
    signed = opts.method in SIGNED
    # one scale for the whole game, so that brightness compares across frames; squared so the
    # faint gradient noise that covers every pixel stays out of the picture
    maps = scale(attr.sum(1).numpy(), signed)
    video = np.empty((len(shown), *frames.shape[1:]), np.uint8)
    for i in range(0, len(shown), 64):  # a few thousand frames: overlay them in chunks
        part = slice(i, i + 64)
        video[part] = overlay(frames[shown[part]], resize(maps[part], frames.shape[1:3]), signed,
                              gamma=2.0)
    output.video(f"{opts.method}_game", video, fps=fps)
    picks = np.linspace(0, len(shown) - 1, min(opts.n, len(shown))).round().astype(int)
    names = action_names(env.id, num_actions)
    output.image(f"{opts.method}_strip", strip(
        video[picks], [f"t={shown[i]}  {names[actions[shown[i]]]}  Q={q_taken[shown[i]]:.2f}"
                       for i in picks],
        f"{env.id}: {opts.method} of Q(s, chosen action), {what}"))
    k = shown[1] - shown[0] if len(shown) > 1 else 1
    return [*lines, f"explained {len(shown)} of its steps (every {k}, the video at {fps:g} fps: "
            f"real time) with {opts.method}"]


def feature_names(env_id: str, n: int) -> list[str]:
    for key, names in FEATURES.items():
        if key in env_id and len(names) == n:
            return names
    return [f"obs[{i}]" for i in range(n)]


def action_names(env_id: str, n: int) -> list[str]:
    """ALE's names of the actions (NOOP, FIRE, ...) if they match the agent's, else numbers."""
    try:
        import ale_py
        import gymnasium as gym

        gym.register_envs(ale_py)
        env = gym.make(env_id)
        names = env.unwrapped.get_action_meanings()
        env.close()
        if len(names) == n:
            return list(names)
    except Exception:  # noqa: BLE001 - names are a nicety; numbers always work
        pass
    return [f"action {i}" for i in range(n)]


def strip(frames: np.ndarray, titles: list[str], title: str) -> np.ndarray:
    """Frames side by side, each titled."""
    plt = pyplot()
    n = len(frames)
    fig, axes = plt.subplots(1, n, figsize=(1.9 * n, 2.9), dpi=100, squeeze=False)
    for ax, frame, t in zip(axes[0], frames, titles):
        ax.imshow(frame)
        ax.set_title(t, fontsize=7)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return figure_array(fig)


def feature_chart(obs: np.ndarray, attr: np.ndarray, q_taken: np.ndarray, env_id: str,
                  method: str, score: float) -> np.ndarray:
    """The observation features over the game and, below, their attributions (a heat map)."""
    plt = pyplot()
    names = feature_names(env_id, obs.shape[1])
    signed = method in SIGNED
    fig, (top, mid, low) = plt.subplots(3, 1, figsize=(9, 6.5), dpi=100, sharex=True,
                                        gridspec_kw={"height_ratios": [2, 1, 2]})
    for i, name in enumerate(names):
        top.plot(obs[:, i], label=name, lw=1)
    top.legend(fontsize=7, loc="upper left", ncol=2)
    top.set_title(f"{env_id}, one game (return {score:g}): observation", fontsize=9)
    mid.plot(q_taken, lw=1, color="k")
    mid.set_ylabel("Q(s, a)", fontsize=8)
    a = scale(attr.T, signed)
    low.imshow(a, aspect="auto", cmap="bwr" if signed else "inferno",
               vmin=-1 if signed else 0, vmax=1, interpolation="nearest")
    low.set_yticks(range(len(names)), names, fontsize=7)
    low.set_xlabel("agent step", fontsize=8)
    low.set_title(f"{method}: each feature's part in Q(s, chosen action)"
                  + (" (red raised it, blue lowered it)" if signed else ""), fontsize=9)
    fig.tight_layout()
    return figure_array(fig)
