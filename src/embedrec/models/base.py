"""The contract every embedrec model keeps: scikit-learn style fitting, implicit style queries.

Fitted state (trailing underscore, set by `fit` or `load`):
    user_ids_, item_ids_   IdMap           raw id <-> index, saved with the model
    scale_                 RatingScale     the training data's rating scale
    user_meta_, item_meta_ DataFrame|None  display metadata aligned to indices (title, year, genres ...)
    seen_                  csr_matrix      users × items training ratings (for exclude_seen, fold-in)
Factor models add:
    user_factors_ (n_users, k) float32, item_factors_ (n_items, k) float32,
    user_bias_ (n_users,), item_bias_ (n_items,), global_bias_ float
and score a pair as `link(global_bias_ + user_bias_[u] + item_bias_[i] + user_factors_[u] @ item_factors_[i])`
where `link` is monotonic (identity, or a sigmoid scaled to the rating range) so ranking can use
the raw sum.
"""
