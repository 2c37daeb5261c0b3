import contextlib
import io
import json
import math
import os
import random
import re
import tempfile
import unittest

import numpy as np

from shapes.world import (
    ABOVE,
    BELOW,
    CANVAS,
    COLORS,
    LEFT,
    RIGHT,
    SHAPES,
    SIZES,
    Scene,
    answer_vocabulary,
    canonical_caption,
    caption,
    caption_matches_scene,
    clean_texts,
    exact_caption_match,
    negative_caption,
    parse_caption,
    questions,
    relation,
    render,
    sample_question,
    sample_scene,
    web_text,
    world_words,
)

N_SCENES = 2000


def _scenes(seed=0, n=N_SCENES, **kw):
    rng = random.Random(seed)
    return [sample_scene(rng, **kw) for _ in range(n)]


def _png_bytes(img):
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


class TestSampling(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.scenes = _scenes(0)

    def test_determinism(self):
        a = _scenes(123, 50)
        b = _scenes(123, 50)
        self.assertEqual(a, b)
        self.assertNotEqual(a, _scenes(124, 50))
        noisy = [s for s in _scenes(5, 200) if s.noise_sigma > 0][:3]
        clean = [s for s in _scenes(5, 200) if s.noise_sigma == 0][:3]
        for s in noisy + clean:
            self.assertEqual(_png_bytes(render(s)), _png_bytes(render(s)))
        self.assertTrue(noisy)
        # text generation deterministic too
        r1, r2 = random.Random(9), random.Random(9)
        for s in a:
            self.assertEqual(web_text(s, r1), web_text(s, r2))
            self.assertEqual(questions(s, r1), questions(s, r2))
            self.assertEqual(negative_caption(s, r1), negative_caption(s, r2))

    def test_json_round_trip(self):
        for s in self.scenes[:300]:
            d = json.loads(json.dumps(s.to_json()))
            self.assertEqual(Scene.from_json(d), s)

    def test_constraints(self):
        counts = {1: 0, 2: 0}
        noisy = 0
        rels = {LEFT: 0, RIGHT: 0, ABOVE: 0, BELOW: 0}
        for s in self.scenes:
            self.assertIn(len(s.objects), (1, 2))
            counts[len(s.objects)] += 1
            self.assertTrue(225 <= s.background <= 255)
            self.assertTrue(s.noise_sigma == 0 or 1 <= s.noise_sigma <= 6)
            noisy += s.noise_sigma > 0
            for o in s.objects:
                self.assertIn(o.shape, SHAPES)
                self.assertIn(o.color, COLORS)
                self.assertIn(o.size, SIZES)
                lo, hi = SIZES[o.size]
                self.assertTrue(lo <= o.extent <= hi)
                for c, base in zip(o.rgb, COLORS[o.color]):
                    self.assertTrue(abs(c - base) <= 15)
                w = o.extent
                h = o.extent * math.sqrt(3) / 2 if o.shape == "triangle" else o.extent
                self.assertGreaterEqual(o.cx - w / 2, 0)
                self.assertLessEqual(o.cx + w / 2, CANVAS)
                self.assertGreaterEqual(o.cy - h / 2, 0)
                self.assertLessEqual(o.cy + h / 2, CANVAS)
            if len(s.objects) == 2:
                a, b = s.objects
                self.assertFalse(a.color == b.color and a.shape == b.shape)
                ax0, ay0, ax1, ay1 = a.bbox()
                bx0, by0, bx1, by1 = b.bbox()
                gap = max(bx0 - ax1, ax0 - bx1, by0 - ay1, ay0 - by1)
                self.assertGreaterEqual(gap, 4)
                dx, dy = a.cx - b.cx, a.cy - b.cy
                rel = relation(s)
                self.assertIsNotNone(rel)
                rels[rel] += 1
                if rel in (LEFT, RIGHT):
                    self.assertGreaterEqual(abs(dx), 1.5 * abs(dy))
                    self.assertEqual(rel == LEFT, dx < 0)
                else:
                    self.assertGreaterEqual(abs(dy), 1.5 * abs(dx))
                    self.assertEqual(rel == ABOVE, dy < 0)  # y grows downward
            else:
                self.assertIsNone(relation(s))
        self.assertTrue(0.4 < counts[1] / N_SCENES < 0.6)
        self.assertTrue(0.2 < noisy / N_SCENES < 0.4)
        for r, c in rels.items():
            self.assertGreater(c, 0.15 * counts[2], r)

    def test_forced_args(self):
        for s in _scenes(1, 100, num_objects=2, noise=False):
            self.assertEqual(len(s.objects), 2)
            self.assertEqual(s.noise_sigma, 0)
        for s in _scenes(1, 100, num_objects=1, noise=True):
            self.assertEqual(len(s.objects), 1)
            self.assertGreater(s.noise_sigma, 0)


class TestRender(unittest.TestCase):
    def test_pixels(self):
        for s in _scenes(2, 300):
            img = render(s)
            self.assertEqual(img.size, (CANVAS, CANVAS))
            self.assertEqual(img.mode, "RGB")
            arr = np.asarray(img).astype(int)
            tol = 4 * s.noise_sigma + 1
            for o in s.objects:
                px = arr[int(o.cy), int(o.cx)]
                self.assertTrue(np.all(np.abs(px - np.array(o.rgb)) <= tol), (px, o))
            # some corner is free of objects: check each corner not covered by a bbox
            for x, y in ((0, 0), (CANVAS - 1, 0), (0, CANVAS - 1), (CANVAS - 1, CANVAS - 1)):
                covered = any(o.bbox()[0] - 1 <= x <= o.bbox()[2] + 1 and o.bbox()[1] - 1 <= y <= o.bbox()[3] + 1
                              for o in s.objects)
                if not covered:
                    self.assertTrue(np.all(np.abs(arr[y, x] - s.background) <= tol), (arr[y, x], s.background))

    def test_triangle_upright(self):
        rng = random.Random(3)
        while True:
            s = sample_scene(rng, num_objects=1, noise=False)
            if s.objects[0].shape == "triangle" and s.objects[0].size == "large":
                break
        o = s.objects[0]
        arr = np.asarray(render(s)).astype(int)
        mask = np.all(np.abs(arr - np.array(o.rgb)) <= 1, axis=2)
        h = o.extent * math.sqrt(3) / 2
        row_top = int(o.cy - h / 2 + 5)
        row_bot = int(o.cy + h / 2 - 2)
        self.assertLess(mask[row_top].sum(), mask[row_bot].sum() / 4)
        self.assertGreater(mask[row_bot].sum(), 0.9 * o.extent)

    def test_noise(self):
        s = next(x for x in _scenes(4, 100) if x.noise_sigma > 3)
        arr = np.asarray(render(s)).astype(float)
        quiet = Scene(s.objects, s.background, 0.0, 0)
        base = np.asarray(render(quiet)).astype(float)
        diff = arr - base
        self.assertTrue(0.5 * s.noise_sigma < diff.std() < 1.5 * s.noise_sigma)


class TestCaptions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.scenes = _scenes(10, N_SCENES)

    def test_caption_format(self):
        pat1 = re.compile(r"^a (small|large) (red|green|blue|yellow|purple) (circle|square|triangle)$")
        for s in self.scenes:
            c = canonical_caption(s)
            if len(s.objects) == 1:
                self.assertRegex(c, pat1)
                self.assertEqual(c, caption(s, 0))
            else:
                self.assertTrue(LEFT in c or ABOVE in c, c)
                self.assertNotIn(RIGHT, c)
                self.assertNotIn(BELOW, c)
                self.assertIn(c, (caption(s, 0), caption(s, 1)))
                self.assertNotEqual(caption(s, 0), caption(s, 1))

    def test_specific_caption(self):
        d = {"objects": [
            {"shape": "circle", "color": "red", "size": "small", "cx": 200.0, "cy": 100.0, "extent": 50, "rgb": [220, 40, 40]},
            {"shape": "square", "color": "blue", "size": "large", "cx": 60.0, "cy": 110.0, "extent": 100, "rgb": [40, 80, 220]}],
            "background": 240, "noise_sigma": 0.0, "noise_seed": 0}
        s = Scene.from_json(d)
        self.assertEqual(relation(s), RIGHT)
        self.assertEqual(caption(s, 0), "a small red circle to the right of a large blue square")
        self.assertEqual(caption(s, 1), "a large blue square to the left of a small red circle")
        self.assertEqual(canonical_caption(s), "a large blue square to the left of a small red circle")
        self.assertTrue(caption_matches_scene("A picture of a LARGE blue square  to the left of a small red circle.", s))
        self.assertTrue(caption_matches_scene("there is a red circle to the right of a blue square", s))
        self.assertFalse(caption_matches_scene("there is a red circle to the left of a blue square", s))
        self.assertFalse(caption_matches_scene("a red circle above a blue square", s))
        self.assertFalse(caption_matches_scene("a large blue square", s))
        self.assertFalse(caption_matches_scene("a large blue square to the left of a large red circle", s))
        self.assertFalse(caption_matches_scene("a large blue square to the left of a small red", s))
        self.assertFalse(caption_matches_scene("a blue square and a red circle", s))
        self.assertFalse(caption_matches_scene("", s))
        self.assertTrue(exact_caption_match(" A large blue square to the left of a small red circle ", s))
        self.assertTrue(exact_caption_match("a small red circle to the right of a large blue square", s))
        self.assertFalse(exact_caption_match("a blue square to the left of a small red circle", s))
        self.assertFalse(exact_caption_match("a picture of a large blue square to the left of a small red circle", s))
        p = parse_caption("a photo of a small red circle to the right of a large blue square!")
        self.assertEqual(p.relation, RIGHT)
        self.assertEqual([(o.size, o.color, o.shape) for o in p.objects],
                         [("small", "red", "circle"), ("large", "blue", "square")])
        self.assertIsNone(parse_caption("free shipping on all orders"))
        self.assertIsNone(parse_caption("img_0042.jpg"))

    def test_parser_round_trip_and_negatives(self):
        rng = random.Random(11)
        for s in self.scenes:
            for first in range(len(s.objects)):
                c = caption(s, first)
                self.assertTrue(caption_matches_scene(c, s), c)
                self.assertTrue(exact_caption_match(c, s), c)
                self.assertTrue(caption_matches_scene("  " + c.upper() + " . ", s), c)
            for t in clean_texts(s):
                self.assertTrue(caption_matches_scene(t, s), t)
            for _ in range(3):
                neg = negative_caption(s, rng)
                self.assertFalse(caption_matches_scene(neg, s), neg)
                self.assertFalse(exact_caption_match(neg, s), neg)
                p = parse_caption(neg)
                self.assertIsNotNone(p, neg)
                self.assertEqual(len(p.objects), len(s.objects))
                if len(s.objects) == 2:
                    self.assertIn(p.relation, (LEFT, RIGHT, ABOVE, BELOW))
                    self.assertTrue(all(o.size and o.color and o.shape for o in p.objects))

    def test_web_corpus(self):
        rng = random.Random(12)
        clean = 0
        kinds = set()
        for s in self.scenes:
            text, ok, kind = web_text(s, rng)
            kinds.add((kind, ok))
            clean += ok
            self.assertEqual(caption_matches_scene(text, s), ok, (text, ok, kind, canonical_caption(s)))
        share = clean / len(self.scenes)
        self.assertTrue(0.4 <= share <= 0.6, share)
        names = {k for k, _ in kinds}
        for k in ("canonical", "reversed", "there_is", "picture_of", "photo_of", "white_background", "bare",
                  "wrong_color", "wrong_shape", "wrong_size", "flipped_relation", "wrong_relation",
                  "slogan", "filename"):
            self.assertIn(k, names)

    def test_vocabulary(self):
        vocab = set(world_words())
        rng = random.Random(13)

        def check(text):
            for tok in re.findall(r"[a-z]+|[^a-z0-9\s]", text.lower()):
                self.assertIn(tok, vocab, text)

        for s in self.scenes[:500]:
            check(canonical_caption(s))
            for t in clean_texts(s):
                check(t)
            check(negative_caption(s, rng))
            check(web_text(s, rng)[0])
            for q, a in questions(s, rng):
                check(q)
                check(a)
                self.assertIn(a, answer_vocabulary())
        self.assertEqual(answer_vocabulary(), sorted(answer_vocabulary()))
        self.assertEqual(len(answer_vocabulary()), 14)


class TestQuestions(unittest.TestCase):
    def test_answers(self):
        rng = random.Random(20)
        yes = no = hard = 0
        kinds_seen = set()
        for s in _scenes(21, N_SCENES):
            present = {(o.color, o.shape) for o in s.objects}
            qs = questions(s, rng)
            qs.append(sample_question(s, rng))
            for q, a in qs:
                m = re.fullmatch(r"what color is the (\w+)\?", q)
                if m:
                    kinds_seen.add("color")
                    objs = [o for o in s.objects if o.shape == m.group(1)]
                    self.assertEqual(len(objs), 1)
                    self.assertEqual(a, objs[0].color)
                    continue
                m = re.fullmatch(r"what shape is the (\w+) object\?", q)
                if m:
                    kinds_seen.add("shape")
                    objs = [o for o in s.objects if o.color == m.group(1)]
                    self.assertEqual(len(objs), 1)
                    self.assertEqual(a, objs[0].shape)
                    continue
                m = re.fullmatch(r"what size is the (\w+) (\w+)\?", q)
                if m:
                    kinds_seen.add("size")
                    objs = [o for o in s.objects if (o.color, o.shape) == m.groups()]
                    self.assertEqual(len(objs), 1)
                    self.assertEqual(a, objs[0].size)
                    continue
                if q == "how many shapes are there?":
                    kinds_seen.add("count")
                    self.assertEqual(a, {1: "one", 2: "two"}[len(s.objects)])
                    continue
                m = re.fullmatch(r"is there a (\w+) (\w+)\?", q)
                self.assertIsNotNone(m, q)
                kinds_seen.add("exists")
                c, sh = m.groups()
                self.assertIn(c, COLORS)
                self.assertIn(sh, SHAPES)
                self.assertEqual(a, "yes" if (c, sh) in present else "no")
                if a == "yes":
                    yes += 1
                else:
                    no += 1
                    if any(o.color == c or o.shape == sh for o in s.objects):
                        hard += 1
            # uniqueness conditions
            shapes = [o.shape for o in s.objects]
            colors = [o.color for o in s.objects]
            n_color_q = sum(1 for q, _ in qs[:-1] if q.startswith("what color"))
            n_shape_q = sum(1 for q, _ in qs[:-1] if q.startswith("what shape"))
            self.assertEqual(n_color_q, sum(shapes.count(x) == 1 for x in shapes))
            self.assertEqual(n_shape_q, sum(colors.count(x) == 1 for x in colors))
        self.assertEqual(kinds_seen, {"color", "shape", "size", "count", "exists"})
        self.assertTrue(0.4 < yes / (yes + no) < 0.6)
        self.assertGreater(hard / no, 0.4)


class TestMakeData(unittest.TestCase):
    def test_cli_deterministic(self):
        from shapes import make_data

        with tempfile.TemporaryDirectory() as d, contextlib.redirect_stdout(io.StringIO()):
            for sub in ("a", "b"):
                make_data.main(["test-split", "--out", os.path.join(d, sub, "t"), "--n", "20", "--seed", "1234"])
                make_data.main(["web-corpus", "--out", os.path.join(d, sub, "w"), "--n", "20", "--seed", "5"])
            make_data.main(["samples", "--out", os.path.join(d, "s"), "--seed", "7"])
            for rel in ("t/labels.jsonl", "t/images/test-00007.png", "w/corpus.jsonl", "w/images/web-000003.png"):
                with open(os.path.join(d, "a", rel), "rb") as f1, open(os.path.join(d, "b", rel), "rb") as f2:
                    self.assertEqual(f1.read(), f2.read(), rel)
            with open(os.path.join(d, "a", "t", "labels.jsonl")) as f:
                rows = [json.loads(line) for line in f]
            self.assertEqual(len(rows), 20)
            self.assertEqual(sum(len(r["scene"]["objects"]) == 1 for r in rows), 10)
            for r in rows:
                s = Scene.from_json(r["scene"])
                self.assertEqual(r["caption"], canonical_caption(s))
                self.assertEqual(caption_matches_scene(r["web_text"], s), r["web_clean"])
                self.assertTrue(os.path.exists(os.path.join(d, "a", "t", r["file"])))
            with open(os.path.join(d, "a", "w", "corpus.jsonl")) as f:
                rows = [json.loads(line) for line in f]
            self.assertEqual(set(rows[0]), {"id", "image", "text", "clean", "kind", "caption"})
            with open(os.path.join(d, "s", "samples.json")) as f:
                samples = json.load(f)
            self.assertGreaterEqual(len(samples), 12)
            caps = " | ".join(x["caption"] for x in samples)
            for word in SHAPES + (LEFT, ABOVE):
                self.assertIn(word, caps)


if __name__ == "__main__":
    unittest.main()
