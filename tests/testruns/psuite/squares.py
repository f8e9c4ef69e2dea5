def square_sum(n):
    acc = 0
    for i in range(n):
        acc += i * i
    return acc
