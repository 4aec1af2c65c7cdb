import keras
import numpy as np
import pytest

from resnet_finetune.evaluation.gradcam import feature_map_layer, grad_cam
from resnet_finetune.models import (
    BackboneSpec,
    build_backbone,
    build_classifier,
    with_temperature,
)

# Channel 0 is the evidence for class 0, channel 1 for class 1; the first image carries
# class-0 evidence in its top-left quadrant, the second class-1 evidence bottom right.
IMAGES = np.zeros((2, 8, 8, 2), dtype="float32")
IMAGES[0, :4, :4, 0] = 1.0
IMAGES[1, 4:, 4:, 1] = 1.0
TOP_LEFT = np.zeros((8, 8), dtype=bool)
TOP_LEFT[:4, :4] = True
BOTTOM_RIGHT = np.rot90(TOP_LEFT, 2)


def evidence_layers(scale: float):
    """1×1 convolution passing each channel through, global pooling, a softmax head whose
    class c reads channel c times ``scale``."""
    features = keras.layers.Conv2D(2, 1, use_bias=False, activation="relu", name="features")
    head = keras.layers.Dense(2, activation="softmax", name="head")
    features.build((None, 8, 8, 2))
    head.build((None, 2))
    features.set_weights([np.eye(2, dtype="float32").reshape(1, 1, 2, 2)])
    head.set_weights([scale * np.eye(2, dtype="float32"), np.zeros(2, dtype="float32")])
    return features, keras.layers.GlobalAveragePooling2D(name="pool"), head


def flat_model(scale: float = 1.0) -> keras.Model:
    features, pool, head = evidence_layers(scale)
    inputs = keras.Input((8, 8, 2))
    return keras.Model(inputs, head(pool(features(inputs))))


def nested_model(scale: float = 1.0) -> keras.Model:
    """The same network with its feature extractor inside a nested model, as ours."""
    features, pool, head = evidence_layers(scale)
    inner_inputs = keras.Input((None, None, 2))
    backbone = keras.Model(inner_inputs, pool(features(inner_inputs)), name="backbone")
    inputs = keras.Input((8, 8, 2))
    return keras.Model(inputs, head(backbone(inputs)))


@pytest.mark.parametrize("build", [flat_model, nested_model])
def test_heat_maps_sit_on_the_evidence_of_the_predicted_class(build):
    heat = grad_cam(build(), IMAGES)
    assert heat.shape == (2, 8, 8)
    np.testing.assert_allclose(heat[0], TOP_LEFT.astype(float), atol=1e-6)
    np.testing.assert_allclose(heat[1], BOTTOM_RIGHT.astype(float), atol=1e-6)


def test_the_other_class_has_no_evidence_there():
    heat = grad_cam(nested_model(), IMAGES, class_indices=np.array([1, 0]))
    assert (heat == 0).all()


def test_a_saturated_softmax_still_localises():
    # At this scale float32 softmax gives exactly 1 and 0: the probability's gradient is
    # zero, the logit's is not.
    model = nested_model(scale=1000.0)
    probabilities = model.predict(IMAGES, verbose=0)
    assert probabilities[0, 0] == 1.0 and probabilities[1, 1] == 1.0
    heat = grad_cam(model, IMAGES)
    np.testing.assert_allclose(heat[0], TOP_LEFT.astype(float), atol=1e-6)
    np.testing.assert_allclose(heat[1], BOTTOM_RIGHT.astype(float), atol=1e-6)


def test_our_resnet_classifier_explains_its_last_residual_block():
    keras.utils.set_random_seed(0)
    model = build_classifier(
        build_backbone(BackboneSpec(architecture="resnet20", width=0.25)),
        3,
        image_size=(16, 16),
        dropout=0.2,
    )
    assert feature_map_layer(model).name == "conv4_block3_out"
    images = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype="uint8")
    heat = grad_cam(model, images)
    assert heat.shape == (4, 16, 16)
    assert heat.min() >= 0 and heat.max() <= 1
    # Each map reaches 1 somewhere and is not flat.
    np.testing.assert_allclose(heat.max(axis=(1, 2)), 1.0)
    assert (heat.std(axis=(1, 2)) > 0.05).all()
    # Each class has its own map of every image.
    per_class = [grad_cam(model, images, class_indices=np.full(4, c)) for c in range(3)]
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert (np.abs(per_class[a] - per_class[b]).max(axis=(1, 2)) > 0.05).all()
    earlier = grad_cam(model, images, layer_name="conv3_block3_out")
    assert earlier.shape == (4, 16, 16) and not np.allclose(earlier, heat)
    with pytest.raises(ValueError, match="no layer of that name"):
        grad_cam(model, images, layer_name="conv9_block1_out")


def test_a_calibrated_model_is_explained_by_its_head_logits():
    # The temperature after the softmax does not move the map: the head's logits serve.
    model = with_temperature(nested_model(scale=1000.0), 2.0)
    heat = grad_cam(model, IMAGES)
    np.testing.assert_allclose(heat[0], TOP_LEFT.astype(float), atol=1e-6)
    np.testing.assert_allclose(heat[1], BOTTOM_RIGHT.astype(float), atol=1e-6)
