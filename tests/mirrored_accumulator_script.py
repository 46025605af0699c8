"""Runs an Accumulator under MirroredStrategy on 2 logical CPUs; used by
tests/test_accumulator.py in a subprocess, because logical devices must be
configured before TensorFlow initialises.

Usage: python mirrored_accumulator_script.py LOGDIR DATA.npy GLOBAL_BATCH
Adds relu(DATA) in global batches of GLOBAL_BATCH rows (the last one partial),
writes one record at step 1 to LOGDIR/run and prints a JSON report.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from tensorboard_plugin_deadrelu.writing import summary  # noqa: E402


def main():
    logdir, data_path, global_batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = np.load(data_path)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        accumulator = summary.Accumulator(units={"hidden": data.shape[-1]})
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(global_batch)
    per_replica_rows = []

    @tf.function
    def train_step(batch):
        def replica_step(local_batch):
            accumulator.update("hidden", tf.nn.relu(local_batch))
            return tf.shape(local_batch)[0]

        return strategy.run(replica_step, args=(batch,))

    for batch in strategy.experimental_distribute_dataset(dataset):
        rows = train_step(batch)
        per_replica_rows.append([int(r) for r in strategy.experimental_local_results(rows)])

    count_variable = accumulator.variables[0]
    local_counts = [int(c) for c in strategy.experimental_local_results(count_variable)]
    result = accumulator.result()["hidden"]

    unknown_name_error = None
    try:
        strategy.run(tf.function(lambda b: accumulator.update("undeclared", b)), args=(tf.ones([2, 3]),))
    except ValueError as e:
        unknown_name_error = str(e)

    writer = tf.summary.create_file_writer(os.path.join(logdir, "run"))
    with writer.as_default():
        written = bool(accumulator.write(step=1))
    writer.close()
    print(
        json.dumps(
            {
                "replicas": strategy.num_replicas_in_sync,
                "per_replica_rows": per_replica_rows,
                "local_counts": local_counts,
                "result_count": result["count"],
                "result_zeros": result["zeros"].tolist(),
                "after_write_count": accumulator.result()["hidden"]["count"],
                "written": written,
                "unknown_name_error": unknown_name_error,
            }
        )
    )


if __name__ == "__main__":
    main()
