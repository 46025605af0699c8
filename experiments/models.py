"""Builds the Keras model of a variant: hidden Dense layers and a linear output unit."""

import keras

from experiments import data


def kernel_initializer(name):
    """A Keras initializer for a variant's ``kernel_initializer`` name."""
    if name == "negative_uniform":
        return keras.initializers.RandomUniform(minval=-1.0, maxval=0.0)
    return keras.initializers.get(name)


def build_model(variant, learning_rate):
    """Returns ``(model, hidden_layer_names)`` for ``variant``, compiled with Adam and MSE.

    Hidden layers are named ``hidden_1``, ``hidden_2``, ...; their biases start
    at zero (as in the article) and their outputs are what the Dead ReLU
    monitor records. Dropout layers, when the variant has them, follow each
    hidden layer. Call ``keras.utils.set_random_seed`` first for reproducible
    initial weights.
    """
    inputs = keras.Input(shape=(data.FEATURES,), name="x")
    hidden = inputs
    names = []
    for index, units in enumerate(variant.units, start=1):
        name = "hidden_%d" % index
        hidden = keras.layers.Dense(
            units,
            activation=variant.activation,
            kernel_initializer=kernel_initializer(variant.kernel_initializer),
            bias_initializer="zeros",
            name=name,
        )(hidden)
        names.append(name)
        if variant.dropout:
            hidden = keras.layers.Dropout(variant.dropout, name="dropout_%d" % index)(hidden)
        if variant.alpha_dropout:
            hidden = keras.layers.AlphaDropout(variant.alpha_dropout, name="alpha_dropout_%d" % index)(hidden)
    outputs = keras.layers.Dense(1, name="y")(hidden)
    model = keras.Model(inputs, outputs, name=variant.run.replace("/", "_"))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    return model, names
