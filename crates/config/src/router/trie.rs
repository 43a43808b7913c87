//! A byte trie of path prefixes: a lookup visits only the prefixes of the request path, never all routes.

/// Route indexes stored under path prefixes; the root holds routes without paths (prefix length 0).
#[derive(Debug, Clone)]
pub(super) struct PathTrie {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, Default)]
struct Node {
    /// Children sorted by byte.
    edges: Vec<(u8, u32)>,
    /// Routes whose path ends at this node.
    routes: Vec<u32>,
}

impl Default for PathTrie {
    fn default() -> Self {
        PathTrie {
            nodes: vec![Node::default()],
        }
    }
}

impl PathTrie {
    /// Stores `route` under `prefix` (empty prefix: matches every path).
    pub(super) fn insert(&mut self, prefix: &[u8], route: u32) {
        let mut node = 0usize;
        for &byte in prefix {
            node = match self.nodes[node].edges.binary_search_by_key(&byte, |e| e.0) {
                Ok(i) => self.nodes[node].edges[i].1 as usize,
                Err(i) => {
                    let child = self.nodes.len();
                    self.nodes.push(Node::default());
                    // Node count is bounded by the total length of all paths, far below u32::MAX.
                    let child_id = u32::try_from(child).unwrap_or(u32::MAX);
                    self.nodes[node].edges.insert(i, (byte, child_id));
                    child
                }
            };
        }
        // Routes are inserted in increasing index order, so a repeat can only be the last one.
        let routes = &mut self.nodes[node].routes;
        if routes.last() != Some(&route) {
            routes.push(route);
        }
    }

    /// Sorts the values stored under each prefix by `key`.
    pub(super) fn sort_values_by_key<K: Ord>(&mut self, mut key: impl FnMut(&u32) -> K) {
        for node in &mut self.nodes {
            node.routes.sort_by_key(&mut key);
        }
    }

    /// Calls `visit(prefix_len, routes)` for every stored prefix of `path`, shortest first.
    pub(super) fn walk(&self, path: &[u8], mut visit: impl FnMut(usize, &[u32])) {
        let mut node = &self.nodes[0];
        if !node.routes.is_empty() {
            visit(0, &node.routes);
        }
        for (depth, &byte) in path.iter().enumerate() {
            let Ok(i) = node.edges.binary_search_by_key(&byte, |e| e.0) else {
                return;
            };
            match self.nodes.get(node.edges[i].1 as usize) {
                Some(next) => node = next,
                None => return,
            }
            if !node.routes.is_empty() {
                visit(depth + 1, &node.routes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_only_prefixes() {
        let mut t = PathTrie::default();
        t.insert(b"", 0);
        t.insert(b"/", 1);
        t.insert(b"/foo", 2);
        t.insert(b"/foobar", 3);
        t.insert(b"/fop", 4);
        t.insert(b"/foo", 2);
        let mut seen = Vec::new();
        t.walk(b"/foobaz", |len, routes| seen.push((len, routes.to_vec())));
        assert_eq!(seen, vec![(0, vec![0]), (1, vec![1]), (4, vec![2])]);
        seen.clear();
        t.walk(b"/foobar/x", |len, routes| {
            seen.push((len, routes.to_vec()))
        });
        assert_eq!(
            seen,
            vec![(0, vec![0]), (1, vec![1]), (4, vec![2]), (7, vec![3])]
        );
    }
}
