//! XML answers (IAM, STS, S3) read into an owned tree the pages can walk.

/// One element: its local name, its text, and its child elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// Parses a document (no DTDs: roxmltree refuses them); `None` when it is not XML.
    pub fn parse(body: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(body).ok()?;
        let document = roxmltree::Document::parse(text).ok()?;
        Some(Self::from_node(document.root_element()))
    }

    fn from_node(node: roxmltree::Node) -> Self {
        Self {
            name: node.tag_name().name().to_string(),
            text: node
                .children()
                .filter(roxmltree::Node::is_text)
                .filter_map(|n| n.text())
                .collect::<String>()
                .trim()
                .to_string(),
            children: node
                .children()
                .filter(roxmltree::Node::is_element)
                .map(Self::from_node)
                .collect(),
        }
    }

    /// The first element named `name` at any depth below this one, in document order.
    pub fn find(&self, name: &str) -> Option<&Element> {
        self.children.iter().find_map(|child| {
            if child.name == name {
                Some(child)
            } else {
                child.find(name)
            }
        })
    }

    /// Every element named `name` at any depth below this one, not looking inside a match.
    pub fn find_all<'a>(&'a self, name: &str) -> Vec<&'a Element> {
        let mut found = Vec::new();
        for child in &self.children {
            if child.name == name {
                found.push(child);
            } else {
                found.extend(child.find_all(name));
            }
        }
        found
    }

    /// The text of the first element named `name` below this one, or "".
    pub fn text_of(&self, name: &str) -> &str {
        self.find(name).map_or("", |e| e.text.as_str())
    }

    /// The texts of the `member` elements of the list named `name`.
    pub fn members_of(&self, name: &str) -> Vec<&Element> {
        self.find(name)
            .map(|list| list.children.iter().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_elements_and_their_text() {
        let xml = br#"<R xmlns="x"><Result><Users><member><UserName>a</UserName></member><member><UserName>b</UserName></member></Users></Result></R>"#;
        let root = Element::parse(xml).expect("xml");
        assert_eq!(root.text_of("UserName"), "a");
        let names: Vec<&str> = root.find_all("member").iter().map(|m| m.text_of("UserName")).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(root.members_of("Users").len(), 2);
        assert_eq!(root.text_of("Missing"), "");
        assert!(Element::parse(b"<!DOCTYPE x [<!ENTITY e 'x'>]><x>&e;</x>").is_none());
        assert!(Element::parse(b"not xml").is_none());
    }
}
