package sources

import "fmt"

// fileID identifies a file independently of its name: device and inode.
type fileID struct{ dev, ino uint64 }

// String returns the "dev:inode" form used in event.Line.FileID.
func (id fileID) String() string { return fmt.Sprintf("%d:%d", id.dev, id.ino) }

func parseFileID(s string) (fileID, error) {
	var id fileID
	if _, err := fmt.Sscanf(s, "%d:%d", &id.dev, &id.ino); err != nil {
		return fileID{}, fmt.Errorf("file id %q: %w", s, err)
	}
	return id, nil
}
