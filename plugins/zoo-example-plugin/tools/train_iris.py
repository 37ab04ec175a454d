"""Train the example_mlp.iris weights and print what the spec records.

    python tools/train_iris.py   # from plugins/zoo-example-plugin, with the plugin installed

Writes zoo_example_plugin/weights/example_mlp_iris.weights.h5; copy the printed
sha256, accuracy, mean and std into zoo_example_plugin/__init__.py.
"""

import hashlib
from pathlib import Path

import keras
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

import zoo

keras.utils.set_random_seed(0)
x, y = load_iris(return_X_y=True)
x_train, x_test, y_train, y_test = train_test_split(x.astype("float32"), y, test_size=0.2, random_state=0,
                                                    stratify=y)
mean, std = x_train.mean(axis=0), x_train.std(axis=0)

model = zoo.create_model("example_mlp")
model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.fit((x_train - mean) / std, y_train, epochs=60, batch_size=16, verbose=0)
_, accuracy = model.evaluate((x_test - mean) / std, y_test, verbose=0)

out = Path(__file__).resolve().parents[1] / "zoo_example_plugin" / "weights" / "example_mlp_iris.weights.h5"
model.save_weights(out)
print("file    ", out)
print("sha256  ", hashlib.sha256(out.read_bytes()).hexdigest())
print("accuracy", round(float(accuracy), 4))
print("mean    ", [round(float(v), 4) for v in mean])
print("std     ", [round(float(v), 4) for v in std])
