"""The ``zoo`` command."""

import click


@click.group()
def main():
    """keras-zoo: models, plugins and native kernels for Keras 3."""


if __name__ == "__main__":
    main()
