"""What the workbench gives every agent: envs built from the config's ``env`` section, the
rollout loop (act -> step -> observe -> learn), episode statistics, evaluation games with
their seeds, the evaluation video, and ``workbench eval``. See docs/agents.md.

Light on purpose: ``from workbench.rollout import AgentConfig`` imports no torch or gymnasium
(a plugin's config module stays fast for ``workbench describe``); :class:`Agent` and
:class:`Transition` are imported on first use."""

from __future__ import annotations

from typing import Any

from workbench.rollout.config import AgentConfig, AgentEvalOptions

__all__ = ["Agent", "AgentConfig", "AgentEvalOptions", "Transition"]


def __getattr__(name: str) -> Any:
    if name in ("Agent", "Transition", "Evaluation"):
        from workbench.rollout import agent

        return getattr(agent, name)
    raise AttributeError(f"module 'workbench.rollout' has no attribute {name!r}")
