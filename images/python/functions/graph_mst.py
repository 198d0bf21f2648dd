# graph_mst.py: the SeBS "graph-mst" kind: a minimum spanning tree of a Barabási-Albert graph of N
# vertices (igraph; its random numbers come from Python's seeded generator).
import random

import igraph

import common

event = common.request()
name, vertices = common.size(event, {"small": 1000, "standard": 100000})
random.seed(42)
graph = igraph.Graph.Barabasi(vertices, 10)
tree = graph.spanning_tree(None, True)
edges = tree.get_edgelist()
common.reply({"size": name, "vertices": tree.vcount(), "edges": tree.ecount(),
              "endpoint_sum": sum(a + b for a, b in edges), "first": edges[:3]})
