def shout(s):
    loud = s.upper()
    return loud
