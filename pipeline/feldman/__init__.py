"""Feldman & Zhang (2020): memorization and influence estimated from many classifiers, each trained
on a random 70 % subset (methods.md section 1).

train_shard -> shard tables of 0/1 correctness; estimate -> mem and high-influence pairs;
consistency -> agreement of two architectures; figures -> plots.
"""
