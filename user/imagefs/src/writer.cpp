// imagefs::Writer: an in-arena tree of entries and inodes, packed by finish() into format.hpp's
// layout. Invariant: every call allocates everything it needs before it changes anything, so a
// failed call leaves the tree (and every total) as it was.
#include "imagefs/writer.hpp"

namespace imagefs {

// One file, directory or symlink; hard links share one Inode.
struct Writer::Inode {
  u32 mode = 0;                   // TYPE_* | permission bits.
  Metadata metadata{};
  u64 size = 0;                   // File: announced bytes; symlink: target bytes.
  u8* contents = nullptr;         // File: `size` bytes in the arena.
  const char* target = nullptr;   // Symlink.
  u64 links = 0;                  // Names that lead here.
  Entry* first_child = nullptr;   // Directory: its entries, unordered until finish().
  u64 child_count = 0;
  u64 subdirectory_count = 0;
  Inode* parent = nullptr;        // Directory: the directory that holds it (the root: itself).
  Entry* self = nullptr;          // Directory: its one name (the root has none).
  // finish(): the inode's number, valid while `generation` is the Writer's, and the next inode
  // in numbering order.
  u32 number = 0;
  u32 generation = 0;
  Inode* next_numbered = nullptr;

  bool is_directory() const { return (mode & TYPE_MASK) == TYPE_DIRECTORY; }
  bool is_file() const { return (mode & TYPE_MASK) == TYPE_REGULAR; }
  bool is_symlink() const { return (mode & TYPE_MASK) == TYPE_SYMLINK; }
};

// One name in a directory.
struct Writer::Entry {
  const char* name = nullptr;
  u64 length = 0;
  Inode* parent = nullptr;
  Inode* inode = nullptr;
  Entry* previous = nullptr;      // Siblings.
  Entry* next = nullptr;
  Entry* bucket_next = nullptr;   // Hash chain.
};

// A checked path: the directory that holds its last component and that component's name.
struct Writer::Parsed {
  Inode* directory = nullptr;
  const char* name = nullptr;
  u64 length = 0;
  Entry* existing = nullptr;      // What the path names now, if anything.
  bool is_root = false;
};

namespace {

u64 hash_name(const void* parent, const char* name, u64 length) {
  // FNV-1a over the name, seeded with the parent's address.
  u64 hash = 14695981039346656037ULL ^ reinterpret_cast<u64>(parent);
  for (u64 i = 0; i < length; ++i) {
    hash ^= static_cast<u8>(name[i]);
    hash *= 1099511628211ULL;
  }
  return hash ^ (hash >> 29);
}

bool same_name(const char* a, u64 a_length, const char* b, u64 b_length) {
  return a_length == b_length && __builtin_memcmp(a, b, a_length) == 0;
}

// Bytewise order, a shorter name first when one is a prefix of the other: the order the
// reader's binary search expects.
int compare_names(const char* a, u64 a_length, const char* b, u64 b_length) {
  u64 common = a_length < b_length ? a_length : b_length;
  int order = __builtin_memcmp(a, b, common);
  if (order != 0) return order;
  if (a_length == b_length) return 0;
  return a_length < b_length ? -1 : 1;
}

u64 round_up_16(u64 bytes) { return (bytes + 15) & ~u64{15}; }

// finish()'s output: small records gathered into one buffer so the sink sees few large writes.
class Output {
 public:
  explicit Output(Sink& sink) : sink_(sink) {}
  bool put(const void* bytes, u64 length) {
    if (failed_) return false;
    const u8* source = static_cast<const u8*>(bytes);
    if (length >= sizeof(buffer_)) {
      if (!flush()) return false;
      failed_ = !sink_.write(source, length);
      written_ += length;
      return !failed_;
    }
    if (used_ + length > sizeof(buffer_) && !flush()) return false;
    __builtin_memcpy(buffer_ + used_, source, length);
    used_ += length;
    written_ += length;
    return true;
  }
  bool zeros(u64 length) {
    static constexpr u8 zero[256] = {};
    while (length > 0) {
      u64 step = length < sizeof(zero) ? length : sizeof(zero);
      if (!put(zero, step)) return false;
      length -= step;
    }
    return true;
  }
  bool pad_to(u64 offset) { return offset < written_ ? false : zeros(offset - written_); }
  bool flush() {
    if (failed_) return false;
    if (used_ > 0) failed_ = !sink_.write(buffer_, used_);
    used_ = 0;
    return !failed_;
  }
  u64 written() const { return written_; }

 private:
  Sink& sink_;
  u8 buffer_[2048];
  u64 used_ = 0;
  u64 written_ = 0;
  bool failed_ = false;
};

}  // namespace

const char* writer_error_text(WriterError error) {
  switch (error) {
    case WriterError::BadPath: return "the path is empty, absolute, too long, or has an empty, \".\" or \"..\" component";
    case WriterError::NoParent: return "a path component is missing or not a directory";
    case WriterError::NotADirectory: return "the path is not a directory";
    case WriterError::NoSuchEntry: return "no entry at the path";
    case WriterError::HardlinkToDirectory: return "a hard link cannot name a directory";
    case WriterError::SizeMismatch: return "file contents do not match the announced size";
    case WriterError::OutOfMemory: return "the image builder ran out of memory";
    case WriterError::TooLarge: return "the image exceeds the largest packed tree";
    case WriterError::SinkFailed: return "writing the packed image failed";
  }
  return "unknown image error";
}

Writer::Writer(Arena& arena) : arena_(arena) {}

u64 Writer::node_count() const { return root_ == nullptr ? 1 : node_count_; }

u64 Writer::packed_size() const {
  u64 nodes = node_count();
  return round_up_page(string_table_offset(nodes, entry_count_) + string_bytes_) + data_bytes_;
}

WriterStatus Writer::fits(u64 more_nodes, u64 more_entries, u64 more_strings, u64 more_data) const {
  // Each term is bounded before it is added, so the sum cannot wrap.
  if (more_data > MAX_IMAGE_BYTES || more_strings > MAX_IMAGE_BYTES) return WriterStatus::failure(WriterError::TooLarge);
  u64 nodes = node_count() + more_nodes;
  if (nodes > MAX_NODES) return WriterStatus::failure(WriterError::TooLarge);
  u64 total = round_up_page(string_table_offset(nodes, entry_count_ + more_entries) + string_bytes_ + more_strings) +
              data_bytes_ + round_up_page(more_data);
  if (total > MAX_IMAGE_BYTES) return WriterStatus::failure(WriterError::TooLarge);
  return WriterStatus::success();
}

WriterStatus Writer::check_open() const {
  if (open_file_ != nullptr && open_file_remaining_ > 0) return WriterStatus::failure(WriterError::SizeMismatch);
  return WriterStatus::success();
}

WriterStatus Writer::ensure_root() {
  if (root_ != nullptr) return WriterStatus::success();
  Inode* root = new_inode(TYPE_DIRECTORY, Metadata{0755, 0, 0, 0});
  if (root == nullptr) return WriterStatus::failure(WriterError::OutOfMemory);
  root->parent = root;
  root->links = 1;
  root_ = root;
  node_count_ = 1;
  return WriterStatus::success();
}

Writer::Inode* Writer::new_inode(u32 mode, Metadata metadata) {
  void* memory = arena_.allocate(sizeof(Inode));
  if (memory == nullptr) return nullptr;
  Inode* inode = new (memory) Inode;
  inode->mode = mode | (metadata.mode & PERMISSION_MASK);
  inode->metadata = metadata;
  return inode;
}

Writer::Entry* Writer::new_entry(const char* name, u64 length) {
  void* memory = arena_.allocate(sizeof(Entry) + round_up_16(length));
  if (memory == nullptr) return nullptr;
  Entry* entry = new (memory) Entry;
  char* copy = reinterpret_cast<char*>(entry + 1);
  __builtin_memcpy(copy, name, length);
  entry->name = copy;
  entry->length = length;
  return entry;
}

WriterStatus Writer::reserve_buckets(u64 entries) {
  if (entries <= bucket_count_) return WriterStatus::success();
  u64 count = bucket_count_ == 0 ? 256 : bucket_count_ * 2;
  while (count < entries) count *= 2;
  void* memory = arena_.allocate(count * sizeof(Entry*));
  if (memory == nullptr) return WriterStatus::failure(WriterError::OutOfMemory);
  Entry** buckets = static_cast<Entry**>(memory);
  for (u64 i = 0; i < count; ++i) buckets[i] = nullptr;
  for (u64 i = 0; i < bucket_count_; ++i) {
    Entry* entry = buckets_[i];
    while (entry != nullptr) {
      Entry* next = entry->bucket_next;
      u64 slot = hash_name(entry->parent, entry->name, entry->length) & (count - 1);
      entry->bucket_next = buckets[slot];
      buckets[slot] = entry;
      entry = next;
    }
  }
  buckets_ = buckets;
  bucket_count_ = count;
  return WriterStatus::success();
}

Writer::Entry* Writer::find(const Inode* directory, const char* name, u64 length) const {
  if (bucket_count_ == 0) return nullptr;
  Entry* entry = buckets_[hash_name(directory, name, length) & (bucket_count_ - 1)];
  for (; entry != nullptr; entry = entry->bucket_next) {
    if (entry->parent == directory && same_name(entry->name, entry->length, name, length)) return entry;
  }
  return nullptr;
}

// Checks the path and walks to the directory that holds its last component, changing nothing.
WriterStatus Writer::prepare(const char* path, u64 path_length, bool root_allowed, Parsed& parsed) {
  if (path == nullptr && path_length > 0) return WriterStatus::failure(WriterError::BadPath);
  if (path_length > MAX_PATH) return WriterStatus::failure(WriterError::BadPath);
  if (path_length == 0) {
    if (!root_allowed) return WriterStatus::failure(WriterError::BadPath);
    parsed.is_root = true;
    return WriterStatus::success();
  }
  if (path[0] == '/') return WriterStatus::failure(WriterError::BadPath);
  // Check every component before walking: a bad path is BadPath whatever exists.
  u64 start = 0;
  for (u64 i = 0; i <= path_length; ++i) {
    if (i < path_length && path[i] == '\0') return WriterStatus::failure(WriterError::BadPath);
    if (i < path_length && path[i] != '/') continue;
    u64 length = i - start;
    if (length == 0 || length > MAX_NAME) return WriterStatus::failure(WriterError::BadPath);
    if (path[start] == '.' && (length == 1 || (length == 2 && path[start + 1] == '.'))) {
      return WriterStatus::failure(WriterError::BadPath);
    }
    start = i + 1;
  }
  Inode* directory = root_;
  start = 0;
  for (u64 i = 0; i < path_length; ++i) {
    if (path[i] != '/') continue;
    Entry* entry = directory == nullptr ? nullptr : find(directory, path + start, i - start);
    if (entry == nullptr || !entry->inode->is_directory()) return WriterStatus::failure(WriterError::NoParent);
    directory = entry->inode;
    start = i + 1;
  }
  parsed.directory = directory;
  parsed.name = path + start;
  parsed.length = path_length - start;
  parsed.existing = directory == nullptr ? nullptr : find(directory, parsed.name, parsed.length);
  return WriterStatus::success();
}

void Writer::link(Inode* directory, Entry* entry, Inode* inode) {
  entry->parent = directory;
  entry->inode = inode;
  entry->previous = nullptr;
  entry->next = directory->first_child;
  if (entry->next != nullptr) entry->next->previous = entry;
  directory->first_child = entry;
  directory->child_count += 1;
  u64 slot = hash_name(directory, entry->name, entry->length) & (bucket_count_ - 1);
  entry->bucket_next = buckets_[slot];
  buckets_[slot] = entry;
  entry_count_ += 1;
  string_bytes_ += entry->length;
  if (inode->links == 0) {
    node_count_ += 1;
    if (inode->is_file()) data_bytes_ += round_up_page(inode->size);
    if (inode->is_symlink()) string_bytes_ += inode->size;
  }
  inode->links += 1;
  if (inode->is_directory()) {
    inode->parent = directory;
    inode->self = entry;
    directory->subdirectory_count += 1;
  }
}

void Writer::release(Inode* inode) {
  inode->links -= 1;
  if (inode->links > 0) return;
  node_count_ -= 1;
  if (inode->is_file()) data_bytes_ -= round_up_page(inode->size);
  if (inode->is_symlink()) string_bytes_ -= inode->size;
  if (inode == open_file_) {
    open_file_ = nullptr;
    open_file_remaining_ = 0;
  }
}

// Unlinks `top` and everything below it, deepest first, without recursion (a tree may be
// thousands of levels deep).
void Writer::drop(Entry* top) {
  Entry* current = top;
  for (;;) {
    while (current->inode->is_directory() && current->inode->first_child != nullptr) {
      current = current->inode->first_child;
    }
    Inode* directory = current->parent;
    if (current->previous != nullptr) current->previous->next = current->next;
    else directory->first_child = current->next;
    if (current->next != nullptr) current->next->previous = current->previous;
    directory->child_count -= 1;
    if (current->inode->is_directory()) directory->subdirectory_count -= 1;
    Entry** slot = &buckets_[hash_name(directory, current->name, current->length) & (bucket_count_ - 1)];
    while (*slot != current) slot = &(*slot)->bucket_next;
    *slot = current->bucket_next;
    entry_count_ -= 1;
    string_bytes_ -= current->length;
    release(current->inode);
    if (current == top) return;
    // The directory that held it is inside `top`'s subtree; its own entry is the way up.
    if (directory->first_child != nullptr) {
      current = directory->first_child;
      continue;
    }
    current = directory->self;  // Not the root: `top` or an entry below it holds this directory.
  }
}

WriterStatus Writer::directory(const char* path, u64 path_length, Metadata metadata) {
  if (WriterStatus s = check_open(); !s.ok) return s;
  Parsed parsed;
  if (WriterStatus s = prepare(path, path_length, true, parsed); !s.ok) return s;
  if (WriterStatus s = ensure_root(); !s.ok) return s;
  if (parsed.is_root) {
    root_->metadata = metadata;
    root_->mode = TYPE_DIRECTORY | (metadata.mode & PERMISSION_MASK);
    return WriterStatus::success();
  }
  if (parsed.directory == nullptr) parsed.directory = root_;
  if (parsed.existing != nullptr && parsed.existing->inode->is_directory()) {
    Inode* inode = parsed.existing->inode;
    inode->metadata = metadata;
    inode->mode = TYPE_DIRECTORY | (metadata.mode & PERMISSION_MASK);
    return WriterStatus::success();
  }
  if (parsed.existing == nullptr) {
    if (WriterStatus s = fits(1, 1, parsed.length, 0); !s.ok) return s;
  }
  if (WriterStatus s = reserve_buckets(entry_count_ + 1); !s.ok) return s;
  Entry* entry = new_entry(parsed.name, parsed.length);
  Inode* inode = entry == nullptr ? nullptr : new_inode(TYPE_DIRECTORY, metadata);
  if (inode == nullptr) return WriterStatus::failure(WriterError::OutOfMemory);
  if (parsed.existing != nullptr) drop(parsed.existing);
  link(parsed.directory, entry, inode);
  return WriterStatus::success();
}

WriterStatus Writer::symlink(const char* path, u64 path_length, Metadata metadata, const char* target,
                             u64 target_length) {
  if (WriterStatus s = check_open(); !s.ok) return s;
  Parsed parsed;
  if (WriterStatus s = prepare(path, path_length, false, parsed); !s.ok) return s;
  if (target == nullptr || target_length == 0 || target_length > MAX_PATH) return WriterStatus::failure(WriterError::BadPath);
  for (u64 i = 0; i < target_length; ++i) {
    if (target[i] == '\0') return WriterStatus::failure(WriterError::BadPath);
  }
  if (WriterStatus s = ensure_root(); !s.ok) return s;
  if (parsed.directory == nullptr) parsed.directory = root_;
  if (WriterStatus s = fits(1, 1, parsed.length + target_length, 0); !s.ok) return s;
  if (WriterStatus s = reserve_buckets(entry_count_ + 1); !s.ok) return s;
  Entry* entry = new_entry(parsed.name, parsed.length);
  Inode* inode = entry == nullptr ? nullptr : new_inode(TYPE_SYMLINK, metadata);
  char* copy = inode == nullptr ? nullptr : static_cast<char*>(arena_.allocate(target_length));
  if (copy == nullptr) return WriterStatus::failure(WriterError::OutOfMemory);
  __builtin_memcpy(copy, target, target_length);
  inode->target = copy;
  inode->size = target_length;
  if (parsed.existing != nullptr) drop(parsed.existing);
  link(parsed.directory, entry, inode);
  return WriterStatus::success();
}

WriterStatus Writer::hardlink(const char* path, u64 path_length, const char* existing, u64 existing_length) {
  if (WriterStatus s = check_open(); !s.ok) return s;
  Parsed source;
  if (WriterStatus s = prepare(existing, existing_length, false, source); !s.ok) {
    return s.error == WriterError::NoParent ? WriterStatus::failure(WriterError::NoSuchEntry) : s;
  }
  Parsed parsed;
  if (WriterStatus s = prepare(path, path_length, false, parsed); !s.ok) return s;
  if (source.existing == nullptr) return WriterStatus::failure(WriterError::NoSuchEntry);
  Inode* inode = source.existing->inode;
  if (inode->is_directory()) return WriterStatus::failure(WriterError::HardlinkToDirectory);
  if (parsed.existing == source.existing) return WriterStatus::success();
  if (WriterStatus s = fits(0, 1, parsed.length, 0); !s.ok) return s;
  if (WriterStatus s = reserve_buckets(entry_count_ + 1); !s.ok) return s;
  Entry* entry = new_entry(parsed.name, parsed.length);
  if (entry == nullptr) return WriterStatus::failure(WriterError::OutOfMemory);
  // Hold the inode while the old entry goes: the old entry may be another name of it.
  inode->links += 1;
  if (parsed.existing != nullptr) drop(parsed.existing);
  link(parsed.directory, entry, inode);
  inode->links -= 1;
  return WriterStatus::success();
}

WriterStatus Writer::file(const char* path, u64 path_length, Metadata metadata, u64 size) {
  if (WriterStatus s = check_open(); !s.ok) return s;
  Parsed parsed;
  if (WriterStatus s = prepare(path, path_length, false, parsed); !s.ok) return s;
  if (WriterStatus s = ensure_root(); !s.ok) return s;
  if (parsed.directory == nullptr) parsed.directory = root_;
  if (WriterStatus s = fits(1, 1, parsed.length, size); !s.ok) return s;
  if (WriterStatus s = reserve_buckets(entry_count_ + 1); !s.ok) return s;
  Entry* entry = new_entry(parsed.name, parsed.length);
  Inode* inode = entry == nullptr ? nullptr : new_inode(TYPE_REGULAR, metadata);
  u8* contents = nullptr;
  if (inode != nullptr && size > 0) contents = static_cast<u8*>(arena_.allocate(size));
  if (inode == nullptr || (size > 0 && contents == nullptr)) return WriterStatus::failure(WriterError::OutOfMemory);
  inode->contents = contents;
  inode->size = size;
  if (parsed.existing != nullptr) drop(parsed.existing);
  link(parsed.directory, entry, inode);
  open_file_ = inode;
  open_file_remaining_ = size;
  return WriterStatus::success();
}

WriterStatus Writer::data(const void* bytes, u64 length) {
  if (length == 0) return WriterStatus::success();
  if (open_file_ == nullptr || length > open_file_remaining_ || bytes == nullptr) {
    return WriterStatus::failure(WriterError::SizeMismatch);
  }
  __builtin_memcpy(open_file_->contents + (open_file_->size - open_file_remaining_), bytes, length);
  open_file_remaining_ -= length;
  return WriterStatus::success();
}

WriterStatus Writer::remove(const char* path, u64 path_length) {
  if (WriterStatus s = check_open(); !s.ok) return s;
  Parsed parsed;
  WriterStatus s = prepare(path, path_length, false, parsed);
  if (!s.ok) return s.error == WriterError::NoParent ? WriterStatus::success() : s;
  if (parsed.existing != nullptr) drop(parsed.existing);
  return WriterStatus::success();
}

WriterStatus Writer::clear(const char* path, u64 path_length) {
  if (WriterStatus s = check_open(); !s.ok) return s;
  Parsed parsed;
  WriterStatus s = prepare(path, path_length, true, parsed);
  if (!s.ok) return s.error == WriterError::NoParent ? WriterStatus::failure(WriterError::NoSuchEntry) : s;
  Inode* directory = nullptr;
  if (parsed.is_root) {
    directory = root_;
    if (directory == nullptr) return WriterStatus::success();
  } else {
    if (parsed.existing == nullptr) return WriterStatus::failure(WriterError::NoSuchEntry);
    directory = parsed.existing->inode;
    if (!directory->is_directory()) return WriterStatus::failure(WriterError::NotADirectory);
  }
  while (directory->first_child != nullptr) drop(directory->first_child);
  return WriterStatus::success();
}

// Merge sort of a directory's sibling list by name: no allocation, O(n log n).
void Writer::sort_children(Inode* directory) {
  Entry* list = directory->first_child;
  if (list == nullptr || list->next == nullptr) return;
  for (u64 width = 1;; width *= 2) {
    Entry* result = nullptr;
    Entry** tail = &result;
    Entry* rest = list;
    u64 merges = 0;
    while (rest != nullptr) {
      merges += 1;
      Entry* left = rest;
      u64 left_length = 0;
      while (rest != nullptr && left_length < width) {
        rest = rest->next;
        left_length += 1;
      }
      Entry* right = rest;
      u64 right_length = 0;
      while (rest != nullptr && right_length < width) {
        rest = rest->next;
        right_length += 1;
      }
      while (left_length > 0 || right_length > 0) {
        Entry* taken = nullptr;
        if (right_length == 0 ||
            (left_length > 0 && compare_names(left->name, left->length, right->name, right->length) <= 0)) {
          taken = left;
          left = left->next;
          left_length -= 1;
        } else {
          taken = right;
          right = right->next;
          right_length -= 1;
        }
        *tail = taken;
        tail = &taken->next;
      }
    }
    *tail = nullptr;
    list = result;
    if (merges <= 1) break;
  }
  Entry* previous = nullptr;
  for (Entry* entry = list; entry != nullptr; entry = entry->next) {
    entry->previous = previous;
    previous = entry;
  }
  directory->first_child = list;
}

WriterStatus Writer::finish(Sink& sink) {
  if (WriterStatus s = check_open(); !s.ok) return s;
  if (WriterStatus s = ensure_root(); !s.ok) return s;
  if (packed_size() > MAX_IMAGE_BYTES || node_count_ > MAX_NODES) return WriterStatus::failure(WriterError::TooLarge);

  // Number the inodes breadth first, sorting each directory as it is reached: the numbering
  // list doubles as the queue, so no memory is needed.
  generation_ += 1;
  root_->generation = generation_;
  root_->number = ROOT_INODE;
  root_->next_numbered = nullptr;
  Inode* last = root_;
  u32 next_number = 1;
  for (Inode* inode = root_; inode != nullptr; inode = inode->next_numbered) {
    if (!inode->is_directory()) continue;
    sort_children(inode);
    for (Entry* entry = inode->first_child; entry != nullptr; entry = entry->next) {
      Inode* child = entry->inode;
      if (child->generation == generation_) continue;
      child->generation = generation_;
      child->number = next_number++;
      child->next_numbered = nullptr;
      last->next_numbered = child;
      last = child;
    }
  }

  Header header{};
  header.magic = MAGIC;
  header.version = VERSION;
  header.header_size = sizeof(Header);
  header.image_size = packed_size();
  header.inode_count = static_cast<u32>(node_count_);
  header.inode_offset = inode_table_offset();
  header.entry_offset = entry_table_offset(node_count_);
  header.entry_count = entry_count_;
  header.string_offset = string_table_offset(node_count_, entry_count_);
  header.string_size = string_bytes_;
  header.data_offset = round_up_page(header.string_offset + string_bytes_);

  u64 name_bytes = 0;
  for (Inode* inode = root_; inode != nullptr; inode = inode->next_numbered) {
    if (!inode->is_directory()) continue;
    for (Entry* entry = inode->first_child; entry != nullptr; entry = entry->next) name_bytes += entry->length;
  }

  Output out(sink);
  out.put(&header, sizeof(header));
  u64 first_entry = 0;
  u64 target_offset = name_bytes;
  u64 data_offset = header.data_offset;
  for (Inode* inode = root_; inode != nullptr; inode = inode->next_numbered) {
    ::imagefs::Inode packed{};
    packed.mode = inode->mode;
    packed.uid = inode->metadata.uid;
    packed.gid = inode->metadata.gid;
    packed.mtime = inode->metadata.mtime;
    if (inode->is_directory()) {
      packed.nlink = static_cast<u32>(2 + inode->subdirectory_count);
      packed.size = inode->child_count;
      packed.offset = first_entry;
      packed.parent = inode->parent->number;
      first_entry += inode->child_count;
    } else if (inode->is_symlink()) {
      packed.nlink = static_cast<u32>(inode->links);
      packed.size = inode->size;
      packed.offset = target_offset;
      target_offset += inode->size;
    } else {
      packed.nlink = static_cast<u32>(inode->links);
      packed.size = inode->size;
      packed.offset = inode->size == 0 ? 0 : data_offset;
      data_offset += round_up_page(inode->size);
    }
    out.put(&packed, sizeof(packed));
  }
  u64 name_offset = 0;
  for (Inode* inode = root_; inode != nullptr; inode = inode->next_numbered) {
    if (!inode->is_directory()) continue;
    for (Entry* entry = inode->first_child; entry != nullptr; entry = entry->next) {
      ::imagefs::Entry packed{};
      packed.name_offset = name_offset;
      packed.inode = entry->inode->number;
      packed.name_length = static_cast<u16>(entry->length);
      packed.type = static_cast<u8>((entry->inode->mode & TYPE_MASK) >> 12);
      name_offset += entry->length;
      out.put(&packed, sizeof(packed));
    }
  }
  for (Inode* inode = root_; inode != nullptr; inode = inode->next_numbered) {
    if (!inode->is_directory()) continue;
    for (Entry* entry = inode->first_child; entry != nullptr; entry = entry->next) out.put(entry->name, entry->length);
  }
  for (Inode* inode = root_; inode != nullptr; inode = inode->next_numbered) {
    if (inode->is_symlink()) out.put(inode->target, inode->size);
  }
  out.pad_to(header.data_offset);
  for (Inode* inode = root_; inode != nullptr; inode = inode->next_numbered) {
    if (!inode->is_file() || inode->size == 0) continue;
    out.put(inode->contents, inode->size);
    out.zeros(round_up_page(inode->size) - inode->size);
  }
  if (!out.flush() || out.written() != header.image_size) return WriterStatus::failure(WriterError::SinkFailed);
  return WriterStatus::success();
}

}  // namespace imagefs
