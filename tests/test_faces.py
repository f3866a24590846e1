"""util/faces: dlib detection and landmarks on a real face, FFHQ's square, the aligned crop, the
paste-back that leaves everything outside the square untouched, and the identity distance."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from util.faces.sample_photos import astronaut, compose, draw_masks, mirrored_order, placement
from util.faces.align import (align, crop_to_image, feather_alpha, ffhq_quad, image_to_crop, paste, quad_mask,
                              quad_side)
from util.faces.detect import FaceFinder
from util.faces.identity import SAME_PERSON, descriptor, distance

pytest.importorskip("dlib")


@pytest.fixture(scope="module")
def truth():
    """The astronaut's own face, found once: its landmarks and FFHQ square are the reference."""
    faces = FaceFinder().find(astronaut())
    assert len(faces) == 1
    return faces[0]


# ----------------------------------------------------------------------------- FFHQ's square


def test_ffhq_quad_against_a_hand_computation():
    """Eyes centred on (40, 50) and (60, 50), mouth corners (42, 80) and (58, 80): the eye-to-mouth
    length (30 x 1.8 = 54) beats twice the eye distance (40), so the square's half side is 54,
    centred 10% of the way from the eyes to the mouth, (50, 53)."""
    lm = np.zeros((68, 2))
    lm[36:42] = (40, 50)
    lm[42:48] = (60, 50)
    lm[48], lm[54] = (42, 80), (58, 80)
    expected = np.array([[-4, -1], [-4, 107], [104, 107], [104, -1]], dtype=float)
    np.testing.assert_allclose(ffhq_quad(lm), expected, atol=1e-9)


def test_ffhq_quad_turns_and_scales_with_the_face():
    rng = np.random.default_rng(3)
    lm = rng.uniform(20, 80, (68, 2))
    a = np.radians(25)
    linear = 1.7 * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    moved = lm @ linear.T + [13, -4]
    np.testing.assert_allclose(ffhq_quad(moved), ffhq_quad(lm) @ linear.T + [13, -4], atol=1e-9)


def test_an_ffhq_aligned_face_gives_back_its_own_frame(truth):
    """A face cut exactly as FFHQ cut its images (1024 px, from dlib's landmarks), searched again:
    its square is the image frame, within 1% of the side."""
    image = align(astronaut(), ffhq_quad(truth.landmarks), 1024)
    faces = FaceFinder().find(image)
    assert len(faces) == 1
    frame = np.array([[0, 0], [0, 1024], [1024, 1024], [1024, 0]], dtype=float)
    assert np.abs(ffhq_quad(faces[0].landmarks) - frame).max() < 0.01 * 1024


# ----------------------------------------------------------------------------- detection


def test_hog_finds_the_one_face_and_the_score_threshold_drops_the_suit(truth):
    finder = FaceFinder(min_score=-1.0)  # let everything through: the suit's false face appears
    scores = sorted(score for _, score in finder.detect(astronaut()))
    assert len(scores) >= 2 and scores[-1] > 1.0 and scores[-2] < 0.5
    x0, y0, x1, y1 = truth.box
    assert 150 < x0 < 200 and 50 < y0 < 100 and 240 < x1 < 290 and 150 < y1 < 200  # on the head, not the suit


def test_faces_on_a_canvas_are_found_where_they_were_placed(truth):
    """Scaled, turned and mirrored copies: each square matches the placed copy of the true square
    to within 6% of its side, and the faces come left to right."""
    places = [placement(0.8, 0, False, (160, 200)), placement(1.3, 12, False, (520, 260)),
              placement(1.0, -10, True, (900, 220))]
    canvas = compose((1100, 520), places)
    faces = FaceFinder().find(canvas)
    assert len(faces) == 3
    reference = ffhq_quad(truth.landmarks)
    for face, place in zip(faces, places):
        expected = place.apply(reference)
        if place.mirrored:
            expected = mirrored_order(expected)
        error = np.abs(ffhq_quad(face.landmarks) - expected).max()
        assert error < 0.06 * quad_side(expected), (error, quad_side(expected))


def test_the_cnn_detector_finds_the_masked_face_that_hog_misses(truth):
    masked = draw_masks(astronaut(), [truth])
    assert FaceFinder("hog").find(masked) == []
    faces = FaceFinder("cnn", upsample=0).find(masked)
    assert len(faces) == 1 and 150 < faces[0].box[0] < 200 and 50 < faces[0].box[1] < 100


def test_an_unknown_detector_is_refused():
    with pytest.raises(ValueError, match="sift"):
        FaceFinder("sift")


def test_large_photos_are_searched_small_and_landmarked_at_full_size(truth):
    big = np.kron(astronaut(), np.ones((4, 4, 1), dtype=np.uint8))  # 2048 px, each pixel 4 x 4
    faces = FaceFinder(max_side=512, upsample=1).find(big)
    assert len(faces) == 1
    np.testing.assert_allclose(ffhq_quad(faces[0].landmarks), 4 * ffhq_quad(truth.landmarks),
                               atol=0.03 * 4 * quad_side(ffhq_quad(truth.landmarks)))


# ----------------------------------------------------------------------------- crop and paste


def test_crop_to_image_maps_pixel_centres_onto_the_square():
    quad = np.array([[10, 20], [0, 60], [40, 70], [50, 30]], dtype=float)  # a turned 41.2 px square
    forward = crop_to_image(quad, 8)
    # crop pixel (0, 0)'s centre is 1/16 of the way along both edges; cv2 indexes pixel centres
    centre = quad[0] + (quad[3] - quad[0]) / 16 + (quad[1] - quad[0]) / 16
    np.testing.assert_allclose(forward @ [0, 0, 1], centre - 0.5)
    np.testing.assert_allclose(forward @ [7.5, 7.5, 1], quad[2] - 0.5)
    back = image_to_crop(quad, 8)
    np.testing.assert_allclose(back @ np.append(forward @ [3, 5, 1], 1), [3, 5], atol=1e-12)


def test_align_of_the_frame_is_the_image_itself():
    rng = np.random.default_rng(0)
    smooth = cv2.resize(rng.integers(0, 256, (5, 5, 3)).astype(np.uint8), (64, 64), interpolation=cv2.INTER_CUBIC)
    frame = np.array([[0, 0], [0, 64], [64, 64], [64, 0]], dtype=float)
    out = align(smooth, frame, 64)
    assert np.abs(out.astype(int) - smooth.astype(int)).max() <= 2


def test_align_turns_the_picture_with_the_square():
    """A square turned a quarter (its top edge pointing down the image) gives the picture turned."""
    rng = np.random.default_rng(1)
    image = np.kron(rng.integers(0, 256, (4, 4, 3)), np.ones((16, 16, 1))).astype(np.uint8)
    turned = np.array([[64, 0], [0, 0], [0, 64], [64, 64]], dtype=float)  # TL at the top right
    out = align(image, turned, 64)
    expected = np.rot90(image)  # crop x runs down the image, crop y leftwards: crop[j, i] = image[i, 63 - j]
    assert np.abs(out.astype(int) - expected.astype(int))[8:-8, 8:-8].mean() < 3


def test_feather_is_zero_on_the_edge_and_one_inside():
    alpha = feather_alpha(50, 0.2)
    assert alpha[0].max() == 0 and alpha[:, -1].max() == 0
    assert alpha[10:40, 10:40].min() == 1
    assert np.all(np.diff(alpha[25, :11]) > 0)


def test_paste_changes_only_what_lies_inside_the_square(truth):
    image = astronaut()
    quad = ffhq_quad(truth.landmarks)
    crop = 255 - align(image, quad, 64)
    out = paste(image, crop, quad)
    inside = quad_mask(quad, 512, 512)
    assert np.array_equal(out[~inside], image[~inside])
    assert (out[inside] != image[inside]).any(axis=1).mean() > 0.9


def test_paste_of_the_aligned_crop_gives_the_face_back(truth):
    image = astronaut()
    quad = ffhq_quad(truth.landmarks)
    out = paste(image, align(image, quad, 256), quad)  # 256 px crop of a ~174 px square
    inside = quad_mask(quad, 512, 512)
    error = np.abs(out.astype(int) - image.astype(int))[inside].mean()
    assert error < 4, error


def test_paste_keeps_alpha_and_works_at_the_image_border():
    rgba = np.dstack([np.full((40, 60, 3), 90, np.uint8), np.arange(40 * 60).reshape(40, 60) % 256]).astype(np.uint8)
    quad = np.array([[-10, -10], [-10, 30], [30, 30], [30, -10]], dtype=float)  # partly outside
    out = paste(rgba, np.full((32, 32, 3), 250, np.uint8), quad)
    assert np.array_equal(out[:, :, 3], rgba[:, :, 3])
    assert out[10, 10, 0] == 250 and out[35, 50, 0] == 90


def test_quad_mask_of_an_axis_aligned_square():
    quad = np.array([[2, 1], [2, 5], [6, 5], [6, 1]], dtype=float)
    mask = quad_mask(quad, 8, 7)
    expected = np.zeros((7, 8), dtype=bool)
    expected[1:5, 2:6] = True  # pixel centres x + 0.5 in [2, 6], y + 0.5 in [1, 5]
    assert np.array_equal(mask, expected)


# ----------------------------------------------------------------------------- identity


def test_identity_distance_is_zero_for_the_same_photo_and_small_for_a_mirror(truth):
    image = astronaut()
    first = descriptor(image, truth.landmarks, truth.box)
    assert first.shape == (128,)
    assert distance(first, descriptor(image, truth.landmarks, truth.box)) == 0.0
    mirrored = np.ascontiguousarray(image[:, ::-1])
    face = FaceFinder().find(mirrored)[0]
    assert distance(first, descriptor(mirrored, face.landmarks, face.box)) < SAME_PERSON


def test_identity_distance_grows_with_what_a_translation_destroys(truth):
    image = astronaut()
    quad = ffhq_quad(truth.landmarks)
    before = descriptor(image, truth.landmarks, truth.box)
    kept = paste(image, align(image, quad, 256), quad)
    ruined = paste(image, np.full((256, 256, 3), 128, np.uint8), quad)
    near = distance(before, descriptor(kept, truth.landmarks, truth.box))
    far = distance(before, descriptor(ruined, truth.landmarks, truth.box))
    assert near < 0.2 and far > SAME_PERSON
