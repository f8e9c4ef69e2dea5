import unittest


class Numbers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.base = 10

    def setUp(self):
        self.step = 1

    def test_ok(self):
        self.assertEqual(self.base + self.step, 11)

    def test_bad(self):
        doubled = self.base * 2
        self.assertEqual(doubled, 21)

    def test_raises(self):
        raise KeyError("missing")

    @unittest.skip("later")
    def test_later(self):
        pass


class Words(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.words = ["a", "b"]

    def test_count(self):
        self.assertEqual(len(self.words), 2)
