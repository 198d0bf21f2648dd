# graph_bfs.py: the SeBS "graph-bfs" kind: breadth-first search from vertex 0 of a Barabási-Albert
# graph of N vertices (igraph; its random numbers come from Python's seeded generator).
import random

import igraph

import common

event = common.request()
name, vertices = common.size(event, {"small": 1000, "standard": 100000})
random.seed(42)
graph = igraph.Graph.Barabasi(vertices, 10)
order, layers, parents = graph.bfs(0)
common.reply({"size": name, "vertices": graph.vcount(), "edges": graph.ecount(), "visited": len(order),
              "layers": len(layers) - 1, "last": order[-1], "parent_sum": sum(parents)})
