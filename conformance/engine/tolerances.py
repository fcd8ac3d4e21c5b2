"""How far from the reference a value may be, in ULPs of the check's dtype, and why.

Per element: ELEMENT_ULPS = 8.

Every input of a check is exact (the reference is computed on the dtype-rounded inputs),
and BCE is a sum of two non-negative terms, y(-log p) + (1 - y)(-log(1 - p)), or for
logits (1 - y) softplus(x) + pw y softplus(-x). Nothing in the mathematics cancels, so an
implementation built from correctly rounded operations (<= 0.5 ULP each: about six of
them, the products by y, 1 - y, w, pos_weight and the sums) and accurate transcendental
functions (log, log1p, exp, log_sigmoid: <= 2 ULP each in SLEEF, Eigen, XLA and glibc, two
of them per element) keeps the relative error of every element within 6 x 0.5 + 2 x 2 = 7
ULPs, rounded up to 8. This is achievable, not aspirational: optax and numpy.stable meet it
on every finite case here (see the report's worst-ULP column). A larger error is an implementation
losing accuracy (cancellation such as x - x*y, a sigmoid saturating to 1, log(1 - p) on a
rounded 1 - p); the suite reports it with the measured error, never hides it.

Reductions (sum, mean): 2 * ELEMENT_ULPS + (n - 1) + [1 for mean].

The weighted terms t_i = w_i L_i are non-negative, so relative errors of at most
ELEMENT_ULPS ULPs in every term give at most that relative error in their sum S; the factor
2 converts it to ULPs of S (the spacing at S is at least half of S times the unit).
Adding n non-negative terms in any order costs at most (n - 1) unit roundoffs relative to S
(Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., eq. 4.4), i.e. at most
n - 1 ULPs; frameworks sum in orders we do not control (pairwise, blocked, tree), so only
this worst case is a bound. Dividing by n for mean is one more correctly rounded operation
(n < 2**24 is exact). The measured error is always reported next to the bound, so a report
shows how much of the budget an implementation uses.

Second derivatives (logits): GRAD_ULPS of the terms' size. d2/dx2 of the loss is
(1 + (pw - 1) y) p (1 - p), and every framework's double backward forms p (1 - p) as a
difference (sigmoid's backward y (1 - y) in PyTorch, TensorFlow and JAX), so it rounds at
the size of p and p**2, |1 + (pw - 1) y| (p + p**2): relative where p is small, at the scale
of 1 where p is near 1 (where 1 - p cancels, as the first derivative's sigmoid(x) - y).

Options (Keras's ``axis``, per-sample weights, the weighted mean): a per-sample loss is the
mean of the m element losses along the axis times the sample weight v: the sum of m
non-negative terms (m - 1), the division by m and the product by v (one correctly rounded
operation each) on top of the elements' 2 * ELEMENT_ULPS. Summing the samples adds the
rest of the n - 1 of the whole sum, so a reduced loss over an axis gets the reduction's
bound plus those 2 operations. The weighted mean divides by the sum of the weights, which
is exact for the weights the cases give (small integers and halves: a sum of few exact
binary numbers) and one more rounding otherwise, counted like the mean's division. The
bounds assume terms of one sign, which zero and positive weights give, and weights all
negative too; the cases do not mix signs within one reduction. Without an axis a sample
weight is one more product in the element's budget (about seven roundings, under 8).

Gradients: GRAD_ULPS = 8 ULPs of the size of the difference's terms.

Unlike the loss, the gradient is a genuine difference, and every framework computes it the
way its documentation writes it: sigmoid(x) (1 + (pw - 1) y) - pw y for logits (PyTorch's
backward, autodiff of the TF formula), -y/p + (1 - y)/(1 - p) or (p - y)/(p (1 - p)) for
probabilities. Rounding then happens at the size of the terms, M = |first| + |second|,
not of the result: sigmoid(20) - 1 cannot come out as -2.06e-9 in float32, only as 0.
So the error is measured in ULPs of M: the same budget of about six roundings and two
transcendental functions (8 ULPs), taken at the scale the difference is formed at. The
error is reported in those ULPs (of max(|gradient|, M)). The division by n of mean is
inside that budget.

Except for hard labels: where the target is 0 or 1 one of the two terms is exactly 0, so
the mathematics has no difference to cancel: the gradient is w sigmoid(x), -w pw
sigmoid(-x), w / (1 - p) or -w / p, one transcendental function (sigmoid or a division)
and at most four correctly rounded products (w, pw, 1/n), the same budget as an element
of the loss. Where the exact gradient is a normal number in the dtype, its error is
measured in ULPs of the gradient itself, within GRAD_ULPS: a 0, a wrong sign or a
cancelled sigmoid(x) - 1 is a fail (TensorFlow's and optax's autodiff, and numpy.stable,
meet it; PyTorch's documented sigmoid(x) - y does not). A subnormal exact gradient keeps
the terms-scaled rule (flush-to-zero kernels legitimately return 0 there). The report gives
a failing gradient's error in both units.
"""

from __future__ import annotations

ELEMENT_ULPS = 8.0
GRAD_ULPS = 8.0


def reduction_tolerance(n: int, reduction: str, grouped: bool = False) -> float:
    """Allowed error of a sum or mean of ``n`` non-negative terms, in ULPs of the dtype;
    ``grouped``: averaged over an axis into per-sample losses first (see below)."""
    divides = reduction in ("mean", "weighted_mean")
    return 2 * ELEMENT_ULPS + max(n - 1, 0) + (1.0 if divides else 0.0) + (2.0 if grouped else 0.0)


def sample_tolerance(axis_length: int) -> float:
    """Allowed error of one unreduced loss: an element's, or with an axis of more than one
    element the mean of ``axis_length`` terms times the sample weight."""
    if axis_length <= 1:
        return ELEMENT_ULPS
    return reduction_tolerance(axis_length, "mean") + 1.0


SIGMOID_ULPS = 2
"""How far a framework's sigmoid may be from the correctly rounded sigmoid, in ULPs of p.

A pipeline (sigmoid, then BCE on probabilities) rounds p = sigmoid(x) to the dtype before
BCE sees it, and BCE is ill-conditioned in p near its ends: d/dp of -log(1 - p) is
1 / (1 - p), so one ULP of p near 1 moves the loss by up to a whole unit (float32, x = 16:
1 - p is a few ULPs). No fixed number of ULPs of the loss covers that; the reference instead
admits every p within SIGMOID_ULPS of the correctly rounded sigmoid and evaluates the BCE
at each (``reference._through_sigmoid``): the loss or gradient must be within its usual
tolerance of that range. The budget: the kernels compute 1 / (1 + exp(-x)) (or
exp(x) / (1 + exp(x)) for x < 0): exp within 1 ULP (SLEEF u10, glibc, XLA's and Eigen's
polynomial exp), whose relative error shrinks in 1 + e, then an add and a divide of 0.5 ULP
each: under 2 ULPs before the final rounding, which SIGMOID_ULPS = 2 steps of the dtype
cover. Half precision computes this in float32 and rounds once: within 1 ULP.
"""
