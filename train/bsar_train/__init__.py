"""bsar_train: training, evaluation and export of bsar's Bit-Swap models (spec/model.md)."""
