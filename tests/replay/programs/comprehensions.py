# Comprehensions (inlined since 3.12) and a generator expression, in a function and at module level.
def squares(n):
    sq = [i * i for i in range(n)]
    evens = {i: i % 2 == 0 for i in range(n)}
    total = sum(x for x in sq)
    return sq, evens, total


res = squares(3)
letters = {c for c in "aba"}
nested = [[j for j in range(i)] for i in range(3)]
