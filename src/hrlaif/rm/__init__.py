"""Reward model on K-response partial orders: ``model`` (RewardModel, load_reward_model),
``loss`` (kwise_loss), ``data`` (rankings → examples), ``train`` (``hrlaif train-rm``),
``synthetic`` (learnable rankings from GSM8K/MMLU for tests and benchmarks). Importing this
package imports no torch; ``hrlaif.rm.model`` does."""
