# graph_pagerank.py: the SeBS "graph-pagerank" kind: PageRank of a Barabási-Albert graph of N
# vertices (igraph; its random numbers come from Python's seeded generator).
import random

import igraph

import common

event = common.request()
name, vertices = common.size(event, {"small": 1000, "standard": 100000})
random.seed(42)
graph = igraph.Graph.Barabasi(vertices, 10)
ranks = graph.pagerank()
best = max(range(vertices), key=lambda vertex: ranks[vertex])
common.reply({"size": name, "vertices": graph.vcount(), "edges": graph.ecount(), "top_vertex": best,
              "top_rank": round(ranks[best], 12), "rank_sum": round(sum(ranks), 9)})
