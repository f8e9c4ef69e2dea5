def total(prices, rate):
    gross = 0
    for p in prices:
        gross += p * rate
    return gross
