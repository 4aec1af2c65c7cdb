"""Image discovery, validation, splitting, tf.data input and augmentation; no Kedro."""
