"""util/faces: dlib detection and landmarks on a real face, FFHQ's square, the aligned crop, the
paste-back that leaves everything outside the square untouched, and the identity distance."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from util.faces.sample_photos import astronaut, compose, draw_masks, grace_hopper, mirrored_order, placement
from util.faces.align import (align, crop_to_image, feather_alpha, ffhq_quad, image_to_crop, paste, quad_mask,
                              quad_side)
from util.faces import detect
from util.faces.detect import FaceFinder, auto_upsample, cnn_check
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
    finder = FaceFinder(upsample=1, min_score=-1.0, confident=-1.0)  # no threshold, no check: the suit appears
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
    assert faces[0].detector == "cnn"


def test_an_unknown_detector_is_refused():
    with pytest.raises(ValueError, match="sift"):
        FaceFinder("sift")


@pytest.mark.parametrize("kwargs", [dict(upsample=-1), dict(upsample=1.5), dict(upsample=True), dict(upsample="1"),
                                    dict(min_score=float("nan")), dict(min_score="0.5"), dict(confident=float("inf")),
                                    dict(max_side=0), dict(max_side=512.0)])
def test_bad_finder_arguments_are_refused(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        FaceFinder(**kwargs)


def test_auto_upsample_follows_the_size_the_photo_is_searched_at():
    assert [auto_upsample(h, w) for h, w in ((1365, 2048), (683, 1024), (600, 1000), (405, 600), (512, 512),
                                             (500, 333), (333, 499), (120, 90))] == [0, 0, 0, 1, 1, 1, 2, 2]
    assert FaceFinder().upsample_for(3000, 4000) == 0  # searched at 2048
    assert FaceFinder(max_side=800).upsample_for(3000, 4000) == 1
    assert FaceFinder(upsample=1).upsample_for(3000, 4000) == 1  # an integer is taken as given


def resized(image: np.ndarray, long_side: int) -> np.ndarray:
    scale = long_side / max(image.shape[:2])
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


@pytest.mark.parametrize("long_side,upsample", [(2048, 0), (500, 1)])
def test_auto_upsample_finds_the_real_faces_on_large_and_small_photos(long_side, upsample):
    """The astronaut twice (her box about 160 px on the 2048 px canvas, 39 px on the 500 px one) and
    Grace Hopper's photo scaled to the same long side: every face found once, by HOG."""
    places = [placement(1.8, 0, False, (600, 550)), placement(1.8, 10, True, (1450, 650))]
    two = compose((2048, 1200), places)
    for image, count in ((resized(two, long_side), 2), (resized(grace_hopper(), long_side), 1)):
        finder = FaceFinder()
        assert finder.upsample_for(*image.shape[:2]) == upsample
        found = finder.detections(image)
        assert len(found) == count and all(d.detector == "hog" for d in found), found


def test_the_cnn_check_drops_the_suit_and_keeps_the_face(truth):
    """HOG scores a false face on the astronaut's suit 0.12: doubtful, and the CNN sees no face there."""
    found = FaceFinder().detections(astronaut())  # 512 px: upsample 1
    assert len(found) == 1 and found[0].score > 1.0 and found[0].check is None  # confident: not checked
    assert np.abs(np.array(found[0].box) - truth.box).max() < 1
    raw = FaceFinder(min_score=0.0, confident=0.0).detect(astronaut())  # the same threshold without the check
    suit = [box for box, score in raw if score < 0.5]
    assert len(suit) == 1 and suit[0][1] > 300  # on the suit, below the head
    assert cnn_check(astronaut(), suit[0]) is None


def test_a_real_face_scoring_under_half_is_kept_and_the_suit_still_dropped(truth):
    """The astronaut blurred (sigma 3 px): HOG scores her face 0.16, the suit -0.12; the CNN's check
    keeps the face, drops the suit. The old rule (0.5) lost her."""
    blurred = cv2.GaussianBlur(astronaut(), (0, 0), 3)
    assert FaceFinder(upsample=1, min_score=0.5).detect(blurred) == []
    raw = FaceFinder(min_score=detect.HOG_MIN_SCORE, confident=detect.HOG_MIN_SCORE).detect(blurred)
    assert len(raw) == 2 and all(detect.HOG_MIN_SCORE <= score < 0.5 for _, score in raw)
    found = FaceFinder().detections(blurred)
    assert len(found) == 1 and found[0].detector == "hog" and found[0].check is not None
    assert detect.HOG_MIN_SCORE <= found[0].score < 0.5
    assert detect.iou(found[0].box, truth.box) > 0.8


def test_the_turned_cameraman_is_found_by_hog_with_the_check():
    """scikit-image's cameraman (grey, small, turned aside): HOG scores him about -0.1, under dlib's
    own threshold; the CNN confirms him on a crop."""
    import skimage.data

    faces = FaceFinder().find(skimage.data.camera())
    assert len(faces) == 1 and faces[0].detector == "hog" and faces[0].check is not None
    x0, y0, x1, y1 = faces[0].box
    assert 190 < (x0 + x1) / 2 < 260 and 130 < (y0 + y1) / 2 < 190


def test_auto_falls_back_to_the_cnn_where_hog_finds_no_face(truth):
    """The astronaut with a flat mask drawn on, cut to 300 px around her head: HOG finds nothing
    there, the CNN over the whole photo finds her (upsample 0 to keep the test fast)."""
    masked = np.ascontiguousarray(draw_masks(astronaut(), [truth])[0:300, 80:380])
    assert FaceFinder("hog", upsample=0).detect(masked) == []
    faces = FaceFinder("auto", upsample=0).find(masked)
    assert len(faces) == 1 and faces[0].detector == "cnn" and faces[0].check is None
    assert detect.iou(faces[0].box, (truth.box[0] - 80, truth.box[1], truth.box[2] - 80, truth.box[3])) > 0.5


@pytest.mark.slow
def test_auto_falls_back_to_the_cnn_on_the_whole_masked_photo(truth):
    """The same at the auto upsampling on the whole 512 px photo (the CNN takes about 6 s)."""
    faces = FaceFinder("auto").find(draw_masks(astronaut(), [truth]))
    assert len(faces) == 1 and faces[0].detector == "cnn" and detect.iou(faces[0].box, truth.box) > 0.5


def test_auto_runs_no_cnn_over_a_photo_where_hog_found_a_face(monkeypatch):
    """Grace Hopper: one confident HOG face, nothing doubtful, so the CNN never runs. The astronaut:
    the CNN checks the suit on a crop, but is not run over the photo."""
    def refuse():
        raise AssertionError("the CNN ran")

    monkeypatch.setattr(detect.dlib_models, "cnn_detector", refuse)
    found = FaceFinder("auto").detections(grace_hopper())
    assert len(found) == 1 and found[0].detector == "hog"
    monkeypatch.undo()

    searched = []
    real = detect.cnn_boxes

    def spy(image, upsample):
        searched.append(image.shape[:2])
        return real(image, upsample)

    monkeypatch.setattr(detect, "cnn_boxes", spy)
    found = FaceFinder("auto").detections(astronaut())
    assert [d.detector for d in found] == ["hog"]
    assert searched and all(h * w < 256 * 256 for h, w in searched)  # crops, never the 512 x 512 photo


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
