"""Packaging for tensorboard-plugin-deadrelu.

The frontend sources live in the top-level ``frontend/`` folder and are
installed as the package ``tensorboard_plugin_deadrelu.frontend`` so that the
plugin can serve them from site-packages.
"""

import pathlib

import setuptools

HERE = pathlib.Path(__file__).parent

setuptools.setup(
    name="tensorboard-plugin-deadrelu",
    version="0.1.0",
    description="Dead ReLU: per-unit dead-neuron heatmaps for TensorBoard",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=setuptools.find_packages(include=["tensorboard_plugin_deadrelu", "tensorboard_plugin_deadrelu.*"])
    + ["tensorboard_plugin_deadrelu.frontend"],
    package_dir={"tensorboard_plugin_deadrelu.frontend": "frontend"},
    package_data={"tensorboard_plugin_deadrelu.frontend": ["*.js", "*.css", "*.html"]},
    install_requires=["tensorboard>=2.12", "numpy>=1.21", "werkzeug>=1.0", "cachetools>=5"],
    extras_require={
        "tf": ["tensorflow>=2.12", "keras>=3"],
        # The native PyTorch monitor; Keras 3 on the torch backend needs keras too.
        "torch": ["torch>=2.1"],
        # JAX/Flax loops write through the numpy twin; Keras 3 on the JAX backend needs keras too.
        "jax": ["jax>=0.4.20", "jaxlib>=0.4.20"],
        "flax": ["jax>=0.4.20", "jaxlib>=0.4.20", "flax>=0.8", "optax>=0.1.7"],
        "lightning": ["torch>=2.1", "lightning>=2.0"],
        "transformers": ["torch>=2.1", "transformers>=4.40", "accelerate>=0.26"],
        "plot": ["matplotlib>=3.5"],
        "test": ["pytest>=7", "playwright>=1.40"],
    },
    entry_points={
        "tensorboard_plugins": [
            "deadrelu = tensorboard_plugin_deadrelu.server.loader:DeadReluLoader",
        ],
        "console_scripts": ["deadrelu = tensorboard_plugin_deadrelu.report.cli:main"],
    },
    license="Apache-2.0",
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
