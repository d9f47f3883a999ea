"""Integer codes the kernels dispatch on, and the name -> code tables.

The estimators translate strings into these codes; nothing below the trainer
sees a string.
"""

# Losses.  Classification losses take a target in {-1, +1}, except LOG_LOSS,
# which (as scikit-learn's half binomial loss) takes a target in {0, 1}.
HINGE = 0
LOG_LOSS = 1
MODIFIED_HUBER = 2
SQUARED_HINGE = 3
PERCEPTRON = 4
SQUARED_ERROR = 5
HUBER = 6
EPSILON_INSENSITIVE = 7
SQUARED_EPSILON_INSENSITIVE = 8

LOSS_CODES = {
    "hinge": HINGE,
    "log_loss": LOG_LOSS,
    "modified_huber": MODIFIED_HUBER,
    "squared_hinge": SQUARED_HINGE,
    "perceptron": PERCEPTRON,
    "squared_error": SQUARED_ERROR,
    "huber": HUBER,
    "epsilon_insensitive": EPSILON_INSENSITIVE,
    "squared_epsilon_insensitive": SQUARED_EPSILON_INSENSITIVE,
}

# Penalties (scikit-learn's numbering).
NO_PENALTY = 0
L1 = 1
L2 = 2
ELASTICNET = 3

PENALTY_CODES = {None: NO_PENALTY, "l1": L1, "l2": L2, "elasticnet": ELASTICNET}

# Learning-rate schedules (scikit-learn's numbering).
CONSTANT = 1
OPTIMAL = 2
INVSCALING = 3
ADAPTIVE = 4
PA1 = 5
PA2 = 6

SCHEDULE_CODES = {
    "constant": CONSTANT,
    "optimal": OPTIMAL,
    "invscaling": INVSCALING,
    "adaptive": ADAPTIVE,
    "pa1": PA1,
    "pa2": PA2,
}

# What the targets of the heads are.
REGRESSION = 0  # one head, real-valued target
ONE_VS_REST = 1  # one binary head per class (one head in the binary case)
MULTINOMIAL = 2  # one softmax over all heads

# Activations of the multi-layer perceptron (hidden layers; the output layer
# uses IDENTITY, LOGISTIC, SOFTMAX or EXP).
IDENTITY = 0
LOGISTIC = 1
TANH = 2
RELU = 3
SOFTMAX = 4
EXP = 5

ACTIVATION_CODES = {
    "identity": IDENTITY,
    "logistic": LOGISTIC,
    "tanh": TANH,
    "relu": RELU,
    "softmax": SOFTMAX,
    "exp": EXP,
}

# Optimizers of the multi-layer perceptron. OBJECTIVE computes the
# gradient without a step (the L-BFGS objective).
SGD = 0
ADAM = 1
ADAMW = 2
OBJECTIVE = 3

SOLVER_CODES = {"sgd": SGD, "adam": ADAM, "adamw": ADAMW, "lbfgs": OBJECTIVE}
PREDICTION = 4  # prediction: the forward pass alone
