"""Registration of the agents (strings only: ``workbench list`` imports no torch)."""

from __future__ import annotations

import os

from workbench.registry import register, register_preset

_WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")

# seconds on a CPU: a few dozen small updates, and games cut at 2,000 frames so that an
# untrained Breakout agent that never presses FIRE cannot stall the evaluation
_SMOKE_ATARI = {"total_steps": 600, "learning_starts": 300, "buffer_size": 1_000,
                "env.num_envs": 4, "batch_size": 8, "log_every": 200, "eval_every": 600,
                "checkpoint_every": 300, "eval_episodes": 1, "final_eval_episodes": 1,
                "eval_video": False, "env.noop_max": 0, "exploration_steps": 300, "torch_threads": 1,
                "env.max_episode_frames": 2_000}

register(
    "dqn",
    entry_point="workbench.agents.dqn.agent:DQN",
    config="workbench.agents.dqn.config:DQNConfig",
    kind="agent",
    metric="eval/return",
    train_metric="train/episode_return",
    goal="max",
    description="DQN (Nature CNN / MLP) with Double, dueling, n-step; Atari via ale-py's vector env",
    smoke=_SMOKE_ATARI,
    weights="workbench.agents.dqn.pretrained",
)

register_preset(
    "dqn-pong", "dqn",
    "Pong, Rainbow-lite DQN (double, dueling, 3-step, Adam) on 56x56 frames, aimed at eval return >= 18 in 2M env steps",
    smoke=_SMOKE_ATARI,
    weights=os.path.join(_WEIGHTS, "dqn-pong.pt"),
    **{"env.id": "ALE/Pong-v5", "total_steps": 2_000_000, "buffer_size": 100_000,
       "learning_starts": 20_000, "n_step": 3, "double": True, "dueling": True,
       "lr": 1e-4, "adam_eps": 1.5e-4, "batch_size": 32, "train_frequency": 4,
       "target_network_frequency": 2_000, "exploration_steps": 100_000, "end_e": 0.01,
       "eval_every": 50_000, "eval_episodes": 10, "checkpoint_every": 100_000,
       "log_every": 10_000, "env.num_envs": 8,
       # 56x56 frames: the update costs 2.75x less than at 84x84 and two seeds of three reached 18
       # in about the same env steps (docs/dqn.md, "Smaller frames")
       "env.screen_size": 56},
)

register_preset(
    "dqn-breakout", "dqn",
    "Breakout, Rainbow-lite DQN (double, dueling, 3-step, Adam), life loss as terminal",
    smoke=_SMOKE_ATARI,
    **{"env.id": "ALE/Breakout-v5", "total_steps": 10_000_000, "buffer_size": 1_000_000,
       "learning_starts": 80_000, "n_step": 3, "dueling": True, "lr": 6.25e-5,
       "target_network_frequency": 8_000, "exploration_steps": 1_000_000,
       "eval_every": 250_000, "eval_episodes": 5, "checkpoint_every": 1_000_000},
)

register_preset(
    "dqn-cartpole", "dqn",
    "CartPole-v1 with an MLP: eval return >= 475 within 50k env steps, a few CPU minutes",
    smoke={"total_steps": 1_000, "learning_starts": 500, "log_every": 500, "eval_every": 1_000,
           "checkpoint_every": 500, "eval_episodes": 2, "final_eval_episodes": 2,
           "torch_threads": 1},
    **{"env.id": "CartPole-v1", "env.num_envs": 4, "total_steps": 50_000, "buffer_size": 50_000,
       "learning_starts": 1_000, "batch_size": 128, "train_frequency": 2, "gamma": 0.99,
       "n_step": 3, "double": True, "dueling": False, "loss": "huber", "lr": 1e-3,
       "adam_eps": 1e-8, "max_grad_norm": 10.0, "target_network_frequency": 4, "tau": 0.01,
       "start_e": 1.0, "end_e": 0.05, "exploration_steps": 10_000, "eval_every": 5_000,
       "eval_episodes": 10, "checkpoint_every": 25_000, "log_every": 1_000,
       "env.clip_rewards": False, "env.life_loss_terminal": False, "hidden": 256,
       "precision": "fp32"},
)

# PPO: CleanRL's ppo_atari.py settings by default; ppo-cartpole takes those of its ppo.py
_SMOKE_PPO = {"total_steps": 512, "num_steps": 32, "env.num_envs": 4, "log_every": 128,
              "eval_every": 512, "checkpoint_every": 256, "eval_episodes": 1,
              "final_eval_episodes": 1, "eval_video": False, "env.noop_max": 0,
              "torch_threads": 1, "env.max_episode_frames": 2_000}

register(
    "ppo",
    entry_point="workbench.agents.ppo.agent:PPO",
    config="workbench.agents.ppo.config:PPOConfig",
    kind="agent",
    metric="eval/return",
    train_metric="train/episode_return",
    goal="max",
    description="PPO (clipped surrogate, GAE, CleanRL's details); Nature CNN on Atari, MLPs on classic control",
    smoke=_SMOKE_PPO,
)

register_preset(
    "ppo-cartpole", "ppo",
    "CartPole-v1 with CleanRL ppo.py's settings: eval return >= 475 within 500k env steps",
    smoke={"total_steps": 1_024, "log_every": 512, "eval_every": 1_024, "checkpoint_every": 512,
           "eval_episodes": 2, "final_eval_episodes": 2, "torch_threads": 1},
    **{"env.id": "CartPole-v1", "env.num_envs": 4, "num_steps": 128, "total_steps": 499_712,
       "lr": 2.5e-4, "anneal_lr": True, "gamma": 0.99, "gae_lambda": 0.95,
       "num_minibatches": 4, "update_epochs": 4, "clip_coef": 0.2, "clip_vloss": True,
       "ent_coef": 0.01, "vf_coef": 0.5, "max_grad_norm": 0.5, "hidden": 64,
       "env.clip_rewards": False, "env.life_loss_terminal": False, "eval_every": 25_000,
       "eval_episodes": 10, "final_eval_episodes": 10, "log_every": 10_240,
       "checkpoint_every": 100_000, "precision": "fp32"},
)

# CleanRL ppo_atari.py: 8 envs x 128 steps, clip 0.1, life loss as terminal, clipped rewards;
# evaluation samples from the policy, since an argmax policy can stall a game by never firing
_PPO_ATARI = {"env.num_envs": 8, "num_steps": 128, "total_steps": 10_000_000, "lr": 2.5e-4,
              "clip_coef": 0.1, "ent_coef": 0.01, "eval_deterministic": False,
              "eval_every": 250_000, "eval_episodes": 5, "checkpoint_every": 500_000}

register_preset(
    "ppo-pong", "ppo", "Pong with CleanRL ppo_atari.py's settings (10M env steps: a GPU-scale run)",
    smoke=_SMOKE_PPO, **{"env.id": "ALE/Pong-v5", **_PPO_ATARI},
)

register_preset(
    "ppo-breakout", "ppo",
    "Breakout with CleanRL ppo_atari.py's settings (10M env steps: a GPU-scale run)",
    smoke=_SMOKE_PPO, **{"env.id": "ALE/Breakout-v5", **_PPO_ATARI},
)
