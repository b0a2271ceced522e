"""Speech: real codecs for the calls, playout replayed from traces, and speech-quality scores.

Pure: no kernel and no network. What a call sends is encoded here before the call; what it
played is rebuilt here afterwards from its trace, on whichever machine scores it.
"""
