// imagefs::Reader: bounds-checked reads of a packed image tree. Invariant: no pointer is formed
// outside [base, base + header.image_size).
#include "imagefs/reader.hpp"

namespace imagefs {

namespace {

int compare_names(const char* a, u64 a_length, const char* b, u64 b_length) {
  u64 common = a_length < b_length ? a_length : b_length;
  int order = __builtin_memcmp(a, b, common);
  if (order != 0) return order;
  if (a_length == b_length) return 0;
  return a_length < b_length ? -1 : 1;
}

}  // namespace

const char* check_header(const void* base, u64 length) {
  if (base == nullptr || length < sizeof(Header)) return "the image tree is shorter than its header";
  if (reinterpret_cast<u64>(base) % alignof(Header) != 0) return "the image tree is misaligned";
  const Header& header = *static_cast<const Header*>(base);
  if (header.magic != MAGIC) return "the image tree has no imagefs magic";
  if (header.version != VERSION || header.header_size != sizeof(Header)) return "unsupported image tree version";
  if (header.image_size > length || header.image_size > MAX_IMAGE_BYTES || header.image_size % PAGE != 0) {
    return "the image tree's size does not match its memory";
  }
  if (header.inode_count == 0 || header.inode_count > MAX_NODES) return "the image tree's inode count is out of range";
  if (header.entry_count > header.image_size / sizeof(Entry)) return "the image tree's entry count is out of range";
  if (header.inode_offset != inode_table_offset() || header.entry_offset != entry_table_offset(header.inode_count) ||
      header.string_offset != string_table_offset(header.inode_count, header.entry_count)) {
    return "the image tree's tables are misplaced";
  }
  if (header.string_size > header.image_size || header.string_offset + header.string_size > header.image_size ||
      header.data_offset != round_up_page(header.string_offset + header.string_size) ||
      header.data_offset > header.image_size) {
    return "the image tree's string table or data are misplaced";
  }
  const Inode* root = reinterpret_cast<const Inode*>(static_cast<const u8*>(base) + header.inode_offset);
  if ((root->mode & TYPE_MASK) != TYPE_DIRECTORY) return "the image tree's root is not a directory";
  return nullptr;
}

bool Reader::open(const void* base, u64 length) {
  base_ = nullptr;
  header_ = nullptr;
  size_ = 0;
  if (check_header(base, length) != nullptr) return false;
  base_ = static_cast<const u8*>(base);
  header_ = reinterpret_cast<const Header*>(base_);
  size_ = header_->image_size;
  return true;
}

const Inode* Reader::inode(u32 number) const {
  if (header_ == nullptr || number >= header_->inode_count) return nullptr;
  return reinterpret_cast<const Inode*>(base_ + header_->inode_offset) + number;
}

bool Reader::is_directory(u32 number) const {
  const Inode* node = inode(number);
  return node != nullptr && (node->mode & TYPE_MASK) == TYPE_DIRECTORY;
}

bool Reader::stat(u32 number, Stat& out) const {
  const Inode* node = inode(number);
  if (node == nullptr) return false;
  out.inode = number;
  out.mode = node->mode;
  out.uid = node->uid;
  out.gid = node->gid;
  out.nlink = node->nlink;
  out.mtime = node->mtime;
  switch (node->mode & TYPE_MASK) {
    case TYPE_DIRECTORY:
      out.size = PAGE;
      out.blocks = PAGE / 512;
      break;
    case TYPE_REGULAR:
      out.size = node->size;
      out.blocks = round_up_page(node->size) / 512;
      break;
    default:
      out.size = node->size;
      out.blocks = 0;
      break;
  }
  return true;
}

const Entry* Reader::entries_of(u32 directory, u64& count) const {
  count = 0;
  const Inode* node = inode(directory);
  if (node == nullptr || (node->mode & TYPE_MASK) != TYPE_DIRECTORY) return nullptr;
  if (node->offset > header_->entry_count || node->size > header_->entry_count - node->offset) return nullptr;
  count = node->size;
  return reinterpret_cast<const Entry*>(base_ + header_->entry_offset) + node->offset;
}

bool Reader::name_of(const Entry& entry, const char*& name) const {
  if (entry.name_offset > header_->string_size || entry.name_length > header_->string_size - entry.name_offset) {
    return false;
  }
  name = reinterpret_cast<const char*>(base_ + header_->string_offset + entry.name_offset);
  return true;
}

ReadError Reader::lookup(u32 directory, const char* name, u64 length, u32& found) const {
  const Inode* node = inode(directory);
  if (node == nullptr) return ReadError::Corrupt;
  if ((node->mode & TYPE_MASK) != TYPE_DIRECTORY) return ReadError::NotADirectory;
  if (length > MAX_NAME) return ReadError::NameTooLong;
  u64 count = 0;
  const Entry* entries = entries_of(directory, count);
  if (entries == nullptr) return ReadError::Corrupt;
  u64 low = 0;
  u64 high = count;
  while (low < high) {
    u64 middle = low + (high - low) / 2;
    const char* candidate = nullptr;
    if (!name_of(entries[middle], candidate)) return ReadError::Corrupt;
    int order = compare_names(candidate, entries[middle].name_length, name, length);
    if (order == 0) {
      if (entries[middle].inode >= header_->inode_count) return ReadError::Corrupt;
      found = entries[middle].inode;
      return ReadError::None;
    }
    if (order < 0) low = middle + 1;
    else high = middle;
  }
  return ReadError::NotFound;
}

u64 Reader::entry_count(u32 directory) const {
  u64 count = 0;
  entries_of(directory, count);
  return count;
}

bool Reader::entry(u32 directory, u64 index, DirectoryEntry& out) const {
  u64 count = 0;
  const Entry* entries = entries_of(directory, count);
  if (entries == nullptr || index >= count) return false;
  const Entry& entry = entries[index];
  const char* name = nullptr;
  if (!name_of(entry, name) || entry.inode >= header_->inode_count) return false;
  out.name = name;
  out.length = entry.name_length;
  out.inode = entry.inode;
  out.type = entry.type;
  return true;
}

bool Reader::symlink_target(u32 number, const char*& target, u64& length) const {
  const Inode* node = inode(number);
  if (node == nullptr || (node->mode & TYPE_MASK) != TYPE_SYMLINK) return false;
  if (node->offset > header_->string_size || node->size > header_->string_size - node->offset) return false;
  if (node->size == 0 || node->size > MAX_PATH) return false;
  target = reinterpret_cast<const char*>(base_ + header_->string_offset + node->offset);
  length = node->size;
  return true;
}

bool Reader::file_extent(u32 number, u64& offset, u64& length) const {
  const Inode* node = inode(number);
  if (node == nullptr || (node->mode & TYPE_MASK) != TYPE_REGULAR) return false;
  if (node->size == 0) {
    offset = 0;
    length = 0;
    return true;
  }
  if (node->offset % PAGE != 0 || node->offset < header_->data_offset || node->offset > header_->image_size ||
      node->size > header_->image_size - node->offset) {
    return false;
  }
  offset = node->offset;
  length = node->size;
  return true;
}

Resolution Reader::resolve(u32 start, const char* path, u64 length, bool follow_last) const {
  Resolution result{ReadError::None, 0, 0, false, nullptr, 0};
  if (!valid()) {
    result.error = ReadError::Corrupt;
    return result;
  }
  if (length > MAX_PATH) {
    result.error = ReadError::NameTooLong;
    return result;
  }
  if (length == 0) {
    result.error = ReadError::NotFound;
    return result;
  }
  // The text still to walk: the path, with each followed symlink's target pushed on top.
  struct Segment {
    const char* text;
    u64 length;
  };
  Segment stack[MAX_SYMLINKS + 1];
  u32 depth = 1;
  stack[0] = {path, length};
  u32 links = 0;
  u32 current = start;
  if (path[0] == '/') current = ROOT_INODE;
  if (!is_directory(current)) {
    result.error = inode(current) == nullptr ? ReadError::Corrupt : ReadError::NotADirectory;
    return result;
  }
  for (;;) {
    // Skip separators; drop finished segments.
    while (depth > 0) {
      Segment& top = stack[depth - 1];
      while (top.length > 0 && top.text[0] == '/') {
        top.text += 1;
        top.length -= 1;
      }
      if (top.length > 0) break;
      depth -= 1;
    }
    if (depth == 0) break;
    Segment& top = stack[depth - 1];
    u64 component = 0;
    while (component < top.length && top.text[component] != '/') component += 1;
    const char* name = top.text;
    bool trailing_slash = component < top.length;
    top.text += component;
    top.length -= component;
    // Is anything but separators left after this component, in this segment or below it?
    bool last = true;
    for (u32 level = depth; level > 0 && last; --level) {
      const Segment& segment = stack[level - 1];
      for (u64 i = 0; i < segment.length; ++i) {
        if (segment.text[i] != '/') {
          last = false;
          break;
        }
      }
    }
    if (component > MAX_NAME) {
      result.error = ReadError::NameTooLong;
      return result;
    }
    if (component == 1 && name[0] == '.') continue;
    if (component == 2 && name[0] == '.' && name[1] == '.') {
      const Inode* node = inode(current);
      if (node == nullptr || !is_directory(node->parent)) {
        result.error = ReadError::Corrupt;
        return result;
      }
      current = node->parent;
      continue;
    }
    u32 child = 0;
    ReadError error = lookup(current, name, component, child);
    if (error != ReadError::None) {
      result.error = error;
      if (error == ReadError::NotFound && last) {
        result.parent_found = true;
        result.parent = current;
        result.name = name;
        result.name_length = component;
      }
      return result;
    }
    const Inode* node = inode(child);
    if (node == nullptr) {  // lookup() checked the number; this keeps the compiler certain.
      result.error = ReadError::Corrupt;
      return result;
    }
    bool symlink = (node->mode & TYPE_MASK) == TYPE_SYMLINK;
    if (symlink && (!last || follow_last || trailing_slash)) {
      if (++links > MAX_SYMLINKS) {
        result.error = ReadError::Loop;
        return result;
      }
      const char* target = nullptr;
      u64 target_length = 0;
      if (!symlink_target(child, target, target_length)) {
        result.error = ReadError::Corrupt;
        return result;
      }
      // A trailing slash after the link applies to its target: keep it as a segment of its own.
      if (target[0] == '/') current = ROOT_INODE;
      stack[depth++] = {target, target_length};
      continue;
    }
    if (!last && !is_directory(child)) {
      result.error = ReadError::NotADirectory;
      return result;
    }
    if (last) {
      if (trailing_slash && !is_directory(child)) {
        result.error = ReadError::NotADirectory;
        return result;
      }
      result.inode = child;
      result.parent = current;
      result.parent_found = true;
      result.name = name;
      result.name_length = component;
      return result;
    }
    current = child;
  }
  // Only separators, ".", ".." or links to directories: the walk ends at a directory.
  result.inode = current;
  result.parent = current;
  result.parent_found = true;
  return result;
}

}  // namespace imagefs
